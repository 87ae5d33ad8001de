import { closeSync, constants, openSync, readSync } from 'node:fs';

/** Reading a body for replay need not update its access time (Linux; 0 elsewhere). */
const O_NOATIME = (constants as { O_NOATIME?: number }).O_NOATIME ?? 0;

/**
 * Small-file fast path: the whole file, if it is exactly `size` bytes. A thread-pool round trip costs the event
 * loop about 30 µs per call on the machines we measured, several times the system call itself for a small file
 * in the page cache, so a replay reads its body synchronously. Everything that waits on the disk (fsync, unlink,
 * large bodies) stays asynchronous.
 */
export function readSmallFileSync(file: string, size: number): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | O_NOATIME);
  } catch (error) {
    // Linux allows O_NOATIME only to the file's owner: a journal restored by another user is still readable.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM' || O_NOATIME === 0) throw error;
    fd = openSync(file, constants.O_RDONLY);
  }
  try {
    // One byte more than expected tells a body that grew from one that is exactly right. A regular file answers
    // fewer bytes than asked for only at its end, so a short read is the end: no second call to hear 0 bytes.
    const bytes = Buffer.allocUnsafe(size + 1);
    let got = 0;
    for (;;) {
      const wanted = size + 1 - got;
      const n = readSync(fd, bytes, got, wanted, got);
      got += n;
      if (n === 0 || n < wanted || got > size) break;
    }
    return got === size ? bytes.subarray(0, size) : undefined;
  } finally {
    closeSync(fd);
  }
}
