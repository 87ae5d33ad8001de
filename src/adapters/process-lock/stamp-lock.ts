import { open, rm } from 'node:fs/promises';
import type { ProcessLockOptions } from './index.js';
import { describeHolder, holderState, type LockStamp, readStamp } from './stamp.js';

/**
 * The fallback where the kernel lock cannot be loaded: the lock file is created exclusively and holds the stamp.
 * A stamp whose holder is certainly gone (see holderState: same pid but another start or boot is not the holder)
 * is taken over; one this process cannot judge (another container's pid namespace, another host) is refused with
 * a message saying to remove the file if that process is gone. Weaker than the kernel lock: two starters that
 * find the same dead holder's stamp at the same instant may both take it over (see docs/journal.md).
 */
export async function acquireStampLock(
  file: string,
  options: ProcessLockOptions,
  self: LockStamp,
): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(file, 'wx', 0o600);
      try {
        await handle.writeFile(`${JSON.stringify(self)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      return () => rm(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const stamp = await readStamp(file);
      const state = stamp ? holderState(stamp, self) : 'dead';
      if (state === 'alive') {
        throw options.locked(`${options.what} is in use by ${describeHolder(stamp)} (lock file ${file})`);
      }
      if (state === 'unknown') {
        throw options.locked(
          `${options.what} is locked by ${describeHolder(stamp)}, which this process cannot see (another container or host); if it is gone, remove ${file}`,
        );
      }
      await rm(file, { force: true });
    }
  }
  throw options.locked(`could not take the lock ${file} on ${options.what}`);
}
