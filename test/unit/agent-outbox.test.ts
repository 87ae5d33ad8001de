import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { OutboxCorruptError, OutboxLockedError } from '../../src/agent/errors.js';
import { OUTBOX_LOG, Outbox } from '../../src/agent/outbox.js';
import type { LocalChange } from '../../src/agent/rename-detector.js';
import { tempDir } from '../support/tmp.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function folder(): Promise<string> {
  const tmp = await tempDir('vfs-relay-outbox-');
  cleanups.push(tmp.remove);
  return join(tmp.dir, 'outbox');
}

async function open(dir: string, compactBytes?: number): Promise<Outbox> {
  const outbox = await Outbox.open(dir, { compactBytes });
  cleanups.push(() => outbox.close());
  return outbox;
}

const upload = (path: string): LocalChange => ({ action: 'upload', path });
const changesOf = (outbox: Outbox) => outbox.entries().map((e) => e.change);

describe('outbox', () => {
  it('keeps appended changes in order, drops acknowledged ones, and replays the rest after reopening', async () => {
    const dir = await folder();
    const first = await open(dir);
    const script: LocalChange[] = [
      { action: 'makedir', path: 'a' },
      upload('a/x.txt'),
      { action: 'rename', path: 'a/x.txt', target: 'a/y.txt' },
      { action: 'delete', path: 'old' },
      upload('b'),
    ];
    const entries = [];
    for (const change of script) entries.push(await first.append(change, 'john'));
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(first.head()?.change).toEqual(script[0]);
    await first.ack(entries[0]!.seq);
    await first.ack(entries[3]!.seq); // out of order: only that one goes
    expect(changesOf(first)).toEqual([script[1], script[2], script[4]]);
    await first.close();

    const second = await open(dir);
    expect(changesOf(second)).toEqual([script[1], script[2], script[4]]);
    expect(second.entries().every((e) => e.user === 'john' && typeof e.at === 'string')).toBe(true);
    const next = await second.append(upload('c'));
    expect(next.seq).toBe(6); // never reuses a number, not even after compaction
  });

  it('makes concurrent appends durable in call order', async () => {
    const dir = await folder();
    const outbox = await open(dir);
    const appended = await Promise.all(Array.from({ length: 200 }, (_, i) => outbox.append(upload(`f${i}`))));
    expect(appended.map((e) => e.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(changesOf(outbox)).toEqual(Array.from({ length: 200 }, (_, i) => upload(`f${i}`)));
    await outbox.close();
    const again = await open(dir);
    expect(changesOf(again)).toHaveLength(200);
    expect(changesOf(again)[199]).toEqual(upload('f199'));
  });

  it('drops a torn last line and keeps everything before it', async () => {
    const dir = await folder();
    const outbox = await open(dir);
    await outbox.append(upload('kept'));
    await outbox.close();
    await appendFile(join(dir, OUTBOX_LOG), '{"seq":2,"at":"2026-01-01T00:00:00Z","change":{"action":"upl');
    const reopened = await open(dir);
    expect(changesOf(reopened)).toEqual([upload('kept')]);
    expect((await reopened.append(upload('next'))).seq).toBe(2);
  });

  it('refuses a log with an unreadable record in the middle', async () => {
    const dir = await folder();
    const outbox = await open(dir);
    await outbox.append(upload('a'));
    await outbox.close();
    const file = join(dir, OUTBOX_LOG);
    await writeFile(file, `not json\n${await readFile(file, 'utf8')}`);
    await expect(Outbox.open(dir)).rejects.toBeInstanceOf(OutboxCorruptError);
  });

  it('compacts the log to the pending changes once it has grown', async () => {
    const dir = await folder();
    const outbox = await open(dir, 2_000);
    for (let i = 0; i < 100; i++) {
      const entry = await outbox.append(upload(`file-${i}`));
      if (i % 10 !== 0) await outbox.ack(entry.seq);
    }
    const size = (await readFile(join(dir, OUTBOX_LOG))).length;
    expect(size).toBeLessThan(4_000);
    expect(changesOf(outbox)).toHaveLength(10);
    await outbox.close();
    const reopened = await open(dir);
    expect(changesOf(reopened)).toEqual(Array.from({ length: 10 }, (_, i) => upload(`file-${i * 10}`)));
    expect((await reopened.append(upload('z'))).seq).toBe(101);
  });

  it('keeps, when a batch makes it compact, the changes that batch added and drops the ones it acknowledged', async () => {
    const dir = await folder();
    const outbox = await open(dir, 200);
    const name = (prefix: string, i: number) => `${prefix}-${i}-${'x'.repeat(200)}`;
    const first = await Promise.all(Array.from({ length: 20 }, (_, i) => outbox.append(upload(name('a', i)))));
    // Acks and appends together, more than the log holds after the last rewrite: a batch of them rewrites it.
    await Promise.all([
      ...first.filter((_, i) => i % 2 === 0).map((e) => outbox.ack(e.seq)),
      ...Array.from({ length: 40 }, (_, i) => outbox.append(upload(name('b', i)))),
    ]);
    // The rewrite happened in this second part (its first line carries the next seq after all 60 appends).
    expect((await readFile(join(dir, OUTBOX_LOG), 'utf8')).split('\n')[0]).toBe('{"next":61}');
    const expected = [
      ...Array.from({ length: 10 }, (_, i) => upload(name('a', 2 * i + 1))),
      ...Array.from({ length: 40 }, (_, i) => upload(name('b', i))),
    ];
    expect(changesOf(outbox)).toEqual(expected);
    await outbox.close();
    expect(changesOf(await open(dir))).toEqual(expected);
  });

  it('keeps a change pending until its ack is durable', async () => {
    const dir = await folder();
    const outbox = await open(dir);
    const entry = await outbox.append(upload('a'));
    const acking = outbox.ack(entry.seq);
    // Not yet on disk: a newer change to the same path must still see it ahead of itself.
    expect(changesOf(outbox)).toEqual([upload('a')]);
    await acking;
    expect(changesOf(outbox)).toEqual([]);
  });

  it('belongs to one agent at a time', async () => {
    const dir = await folder();
    await open(dir);
    await expect(Outbox.open(dir)).rejects.toBeInstanceOf(OutboxLockedError);
  });

  it('takes over the lock of an agent that died', async () => {
    const dir = await folder();
    const outbox = await open(dir);
    await outbox.append(upload('a'));
    await outbox.close();
    await writeFile(join(dir, 'agent.lock'), '{"pid":999999999,"host":"gone"}\n'); // what a killed agent leaves
    const reopened = await open(dir);
    expect(changesOf(reopened)).toEqual([upload('a')]);
  });

  it('wakes a waiter when the first change arrives', async () => {
    const outbox = await open(await folder());
    let woken = false;
    const waiting = outbox.whenNotEmpty().then(() => {
      woken = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(woken).toBe(false);
    await outbox.append(upload('x'));
    await waiting;
    expect(woken).toBe(true);
    const aborted = new AbortController();
    await outbox.ack(1);
    const pending = outbox.whenNotEmpty(aborted.signal);
    aborted.abort(new Error('stop'));
    await expect(pending).rejects.toThrow('stop');
  });
});
