import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { DirectorySync } from '../../src/adapters/fs-journal/dir-sync.js';
import { fileHandlePrototype, tempDir } from '../support/tmp.js';

// An fsync that fails may drop what it could not write and report the error once: a caller that queued behind it
// (group commit), or a later one, was told its folder was durable by an fsync that saw nothing (a descriptor opened
// after the error). Error path only: the failure is injected.
let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  tmp = await tempDir();
});
afterEach(async () => {
  vi.restoreAllMocks();
  await tmp.remove();
});

const settle = (p: Promise<unknown>) =>
  p.then(
    () => 'durable',
    (e: unknown) => `refused: ${(e as Error).message}`,
  );

it("once a folder fsync failed, no later one reports a folder durable; a folder gone is its caller's error only", async () => {
  const lane = join(tmp.dir, 'lane');
  const other = join(tmp.dir, 'other');
  await mkdir(lane);
  await mkdir(other);
  const dirs = new DirectorySync();
  expect(await settle(dirs.sync(join(tmp.dir, 'missing')))).toMatch(/^refused: ENOENT/);
  expect(await settle(dirs.sync(lane))).toBe('durable'); // a missing folder did not stop anything

  const proto = await fileHandlePrototype(tmp.dir);
  const real = proto.sync;
  let calls = 0;
  vi.spyOn(proto, 'sync').mockImplementation(function (this: unknown) {
    calls += 1;
    if (calls === 1) {
      return new Promise<void>((_, reject) => setTimeout(() => reject(new Error('EIO: i/o error, fsync')), 20));
    }
    return real.call(this);
  });
  const first = settle(dirs.sync(lane));
  await new Promise((r) => setTimeout(r, 5));
  const queued = settle(dirs.sync(lane)); // joins the next round, after the failed one
  expect(await first).toMatch(/^refused: an fsync of a journal folder failed \(EIO/);
  expect(await queued).toMatch(/^refused: an fsync of a journal folder failed/);
  expect(await settle(dirs.sync(other))).toMatch(/^refused: an fsync of a journal folder failed/);
  await rm(other, { recursive: true });
});
