import { type FileHandle, open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { kernelLock } from './kernel-lock.js';
import { describeHolder, type LockStamp, ownStamp, readStamp } from './stamp.js';
import { acquireStampLock } from './stamp-lock.js';

export interface ProcessLockOptions {
  /** Builds the error for a lock held by another process (the message names the holder and the file). */
  locked: (message: string) => Error;
  /** What to call the locked thing in messages ("the journal", "the outbox"). */
  what: string;
}

/** Lock files this process holds: a second open of the same folder in one process is refused as well. */
const held = new Set<string>();

/**
 * One owner per folder. The lock is a kernel lock on `file` (an open-file-description lock on Linux, flock on
 * macOS, LockFileEx on Windows, through fs-native-extensions): the kernel releases it when the process ends, however
 * it ends, so a restart after SIGKILL needs no cleanup, a restarted container that is PID 1 again is not mistaken
 * for the old one, two containers sharing the folder (one kernel) exclude each other whatever their pids, and of
 * two starters at once exactly one wins. The file holds a stamp of the holder (pid, host, start time) for the
 * message the loser prints; it is never deleted (deleting a lock file lets a third process lock a new file while
 * the first still holds the old one). Where the native module cannot load (no prebuilt binary for the platform,
 * e.g. musl), a stamp lock stands in (see stamp-lock.ts). Resolves to the function that releases it.
 */
export async function acquireProcessLock(file: string, options: ProcessLockOptions): Promise<() => Promise<void>> {
  const path = resolve(file);
  if (held.has(path)) throw options.locked(`${options.what} is already open in this process (lock file ${file})`);
  const lock = kernelLock();
  const release = lock
    ? await acquireKernelLock(path, options, lock.tryLock)
    : await acquireStampLock(path, options, ownStamp());
  held.add(path);
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    held.delete(path);
    await release();
  };
}

async function acquireKernelLock(
  file: string,
  options: ProcessLockOptions,
  tryLock: (fd: number) => boolean,
): Promise<() => Promise<void>> {
  // 'a+' creates it if needed and never truncates a stamp that the holder wrote.
  const handle = await open(file, 'a+', 0o600);
  let locked = false;
  try {
    locked = tryLock(handle.fd);
  } finally {
    if (!locked) await handle.close();
  }
  if (!locked)
    throw options.locked(`${options.what} is in use by ${describeHolder(await readStamp(file))} (lock file ${file})`);
  try {
    await writeStamp(handle, ownStamp());
  } catch (error) {
    await handle.close();
    throw error;
  }
  // Closing the last descriptor of the open file description releases the lock.
  return () => handle.close();
}

async function writeStamp(handle: FileHandle, stamp: LockStamp): Promise<void> {
  await handle.truncate(0);
  await handle.write(`${JSON.stringify(stamp)}\n`, 0);
  await handle.sync();
}
