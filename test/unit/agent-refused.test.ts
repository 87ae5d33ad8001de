import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { OutboxLockedError } from '../../src/agent/errors.js';
import { Outbox } from '../../src/agent/outbox.js';
import {
  REFUSED_LOG,
  type RefusedChange,
  RefusedChanges,
  readRefused,
  requeueRefused,
} from '../../src/agent/refused-changes.js';
import { agentRefused } from '../../src/cli/commands/agent-refused.js';
import { tempDir } from '../support/tmp.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function folder(): Promise<string> {
  const tmp = await tempDir('vfs-relay-refused-');
  cleanups.push(tmp.remove);
  return tmp.dir;
}

const refused = (seq: number, path: string, code = 'BAD_PATH'): RefusedChange => ({
  seq,
  at: '2030-01-01T00:00:00.000Z',
  change: { action: 'upload', path },
  user: 'john',
  refusedAt: '2030-01-01T00:00:01.000Z',
  status: 400,
  code,
  message: `${code}: no`,
});

describe('refused changes', () => {
  it('lists each change once, keeps a whole last line without its newline, and counts unreadable ones', async () => {
    const dir = await folder();
    const store = await RefusedChanges.open(dir);
    await store.add(refused(3, 'a'));
    await store.add(refused(5, 'b'));
    await store.add(refused(3, 'a', 'LOCATION_ROOT')); // refused again after a crash before the outbox ack
    // A crash while appending: one whole record without its newline, then garbage.
    await appendFile(join(dir, REFUSED_LOG), '{"seq":9,"at":"x","change":{"action":"del');
    const { records, unreadable } = await readRefused(dir);
    expect(records.map((r) => [r.seq, r.code])).toEqual([
      [5, 'BAD_PATH'],
      [3, 'LOCATION_ROOT'],
    ]);
    expect(unreadable).toBe(1);
    // The next record after a torn tail starts a line of its own.
    const reopened = await RefusedChanges.open(dir);
    expect(reopened.count).toBe(2);
    await reopened.add(refused(11, 'c'));
    expect((await readRefused(dir)).records.map((r) => r.seq)).toEqual([5, 3, 11]);
  });

  it('`agent refused --json` names the state folder (and, as before, `outbox`) with its records', async () => {
    const dir = await folder();
    await (await RefusedChanges.open(dir)).add(refused(4, 'x'));
    const written: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    try {
      await agentRefused({ state: dir, json: true });
    } finally {
      spy.mockRestore();
    }
    const [listed] = JSON.parse(written.join('')) as { state: string; outbox: string; records: RefusedChange[] }[];
    expect(listed).toMatchObject({ state: dir, outbox: dir, unreadable: 0 });
    expect(listed!.records.map((r) => r.seq)).toEqual([4]);
  });

  it('re-queues set-aside changes at the end of the outbox and forgets them, the chosen ones only', async () => {
    const dir = await folder();
    const outbox = await Outbox.open(dir);
    await outbox.append({ action: 'makedir', path: 'pending' });
    await outbox.close();
    const store = await RefusedChanges.open(dir);
    for (const [seq, path] of [
      [1, 'a'],
      [2, 'b'],
      [3, 'c'],
    ] as const) {
      await store.add(refused(seq, path));
    }
    const requeued = await requeueRefused(dir, (r) => r.seq !== 2);
    expect(requeued.map((r) => r.change.path)).toEqual(['a', 'c']);
    expect((await readRefused(dir)).records.map((r) => r.change.path)).toEqual(['b']);
    const after = await Outbox.open(dir);
    cleanups.push(() => after.close());
    expect(after.entries().map((e) => [e.change.path, e.user])).toEqual([
      ['pending', undefined],
      ['a', 'john'],
      ['c', 'john'],
    ]);
    expect(after.entries()[1]!.seq).toBeGreaterThan(1); // new positions, never reused ones
  });

  it('will not re-queue while an agent holds the outbox, and leaves the records as they were', async () => {
    const dir = await folder();
    await (await RefusedChanges.open(dir)).add(refused(1, 'a'));
    const running = await Outbox.open(dir);
    cleanups.push(() => running.close());
    await expect(requeueRefused(dir)).rejects.toBeInstanceOf(OutboxLockedError);
    expect((await readRefused(dir)).records).toHaveLength(1);
    expect(await readFile(join(dir, REFUSED_LOG), 'utf8')).toContain('"seq":1');
  });
});
