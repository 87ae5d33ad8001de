// The outbox and refused.jsonl took a short write (a nearly full disk writes what fits and reports no error) for a
// whole one: appends reported durable were gone at the next start, and a refused change was in neither file (found
// by a review). Real ENOSPC on a small tmpfs (mounting needs root: fails under CI=true without it, skips loudly
// elsewhere).
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Outbox } from '../../src/agent/outbox.js';
import { RefusedChanges } from '../../src/agent/refused-changes.js';
import { smallDisk } from '../support/small-disk.js';

const disk = smallDisk('1m');
const mnt = disk.dir;
const fill = disk.fill;

describe('outbox on a nearly full disk', () => {
  it('never reports an append durable that the next start does not find', async (ctx) => {
    disk.mounted(ctx, "the agent's disk-full tests");
    const dir = join(mnt, 'state');
    mkdirSync(dir);
    const outbox = await Outbox.open(dir);
    await outbox.append({ action: 'makedir', path: 'first' });
    fill(8 * 1024);
    // One group-committed batch of ~40 KiB: more than fits.
    const long = (i: number) => `${i}-${'x'.repeat(3000)}`;
    const results = await Promise.allSettled(
      Array.from({ length: 13 }, (_, i) => outbox.append({ action: 'upload', path: long(i) })),
    );
    const acknowledged = results.filter((r) => r.status === 'fulfilled').length;
    // kill -9 now: what the disk holds is what the next start sees
    expect(acknowledged).toBeLessThan(13); // the disk cannot take them all
    const copy = mkdtempSync(join(tmpdir(), 'vfs-relay-agent-enospc-copy-'));
    try {
      cpSync(dir, copy, { recursive: true });
      rmSync(join(copy, 'agent.lock'), { force: true });
      const reopened = await Outbox.open(copy);
      const found = reopened.size - 1;
      await reopened.close();
      expect(found).toBeGreaterThanOrEqual(acknowledged);
    } finally {
      rmSync(copy, { recursive: true, force: true });
      await outbox.close().catch(() => {});
    }
  });

  it('never loses a change between refused.jsonl and the outbox', async (ctx) => {
    disk.mounted(ctx, "the agent's disk-full tests");
    const dir = join(mnt, 'state2');
    mkdirSync(dir);
    rmSync(join(mnt, 'filler'), { force: true });
    const refused = await RefusedChanges.open(dir);
    fill(4 * 1024);
    const record = {
      seq: 7,
      at: new Date().toISOString(),
      change: { action: 'upload' as const, path: 'y'.repeat(20_000) },
      refusedAt: new Date().toISOString(),
      status: 413,
      code: 'PAYLOAD_TOO_LARGE',
      message: 'too large',
    };
    const ok = await refused.add(record).then(
      () => true,
      () => false,
    );
    // Reported durable, the sender would ack the outbox entry: the change must then be in refused.jsonl.
    expect(ok).toBe(false);
    rmSync(join(mnt, 'filler'));
    const reread = await RefusedChanges.open(dir);
    expect(reread.count).toBe(0);
    expect(readFileSync(join(dir, 'refused.jsonl'), 'utf8')).toBe(''); // cut back: no torn line for later ones
  });
});
