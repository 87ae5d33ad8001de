// A log record larger than 64 KiB was written with one FileHandle.writev, whose short write (a nearly full disk
// writes what fits and reports no error) went unnoticed: the torn record was fsynced and acknowledged, and the next
// start read the log up to it only, losing the change. Real ENOSPC on a small tmpfs (mounting needs root: the
// test fails under CI=true without it, and skips loudly elsewhere); no mocks.
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FsJournalStore } from '../../src/adapters/fs-journal/store.js';
import { entry } from '../support/journal-conformance.js';
import { smallDisk } from '../support/small-disk.js';

const disk = smallDisk('2m');
const mnt = disk.dir;
const fill = disk.fill;

describe('write-ahead log on a nearly full disk', () => {
  it('refuses an upload whose log record does not fit, and what it acknowledged survives a crash', async (ctx) => {
    disk.mounted(ctx, 'the disk-full log test');
    const root = join(mnt, 'journal');
    mkdirSync(root);
    const store = await FsJournalStore.open(root, () => {}, { checkpointIntervalMs: 3_600_000 });
    const small = entry({ path: '/user_homes/dir' });
    await store.create([small]); // lane folder made, one record logged
    const e = entry({ action: 'upload', path: '/user_homes/big.bin', size: 200 * 1024 });
    const body = Buffer.alloc(200 * 1024, 0x61);
    const digest = { size: body.length, sha256: createHash('sha256').update(body).digest('hex') };
    fill(64 * 1024); // 64 KiB left: the 200 KiB record does not fit
    const acknowledged = await store.createWithBody([e], body, digest).then(
      () => true,
      () => false,
    );
    expect(acknowledged).toBe(false);
    // A SIGKILL now: what the disk holds is what the next start sees.
    const copy = mkdtempSync(join(tmpdir(), 'vfs-relay-enospc-copy-'));
    try {
      cpSync(root, copy, { recursive: true });
      const reopened = await FsJournalStore.open(copy);
      expect(await reopened.read(small)).toBeDefined();
      await reopened.close();
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
    await store.close().catch(() => {}); // the log failed: closing may report it
  });
});
