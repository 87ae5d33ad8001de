import { open, readFile, rm } from 'node:fs/promises';

export interface PidLockOptions {
  /** Builds the error for a lock held by a live process (the message names the owner and the file). */
  locked: (message: string) => Error;
  /** What to call the locked thing in messages ("the journal", "the outbox"). */
  what: string;
  /** A lock file naming this very process: taken over ('reuse', after a close without cleanup) or refused. */
  sameProcess: 'reuse' | 'refuse';
}

/**
 * One owner per folder, by a lock file holding the owner's pid. A lock whose process is gone (killed, crashed) is
 * taken over, so a restart after SIGKILL needs no manual cleanup. Resolves to the function that releases it.
 */
export async function acquirePidLock(file: string, options: PidLockOptions): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(file, 'wx', 0o644);
      try {
        await handle.writeFile(`${process.pid}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      return () => rm(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
        throw options.locked(`${options.what} is in use by process ${owner} (lock file ${file})`);
      }
      if (owner === process.pid && options.sameProcess === 'refuse') {
        throw options.locked(`${options.what} is already open in this process (lock file ${file})`);
      }
      await rm(file, { force: true });
    }
  }
  throw options.locked(`could not take the lock ${file} on ${options.what}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
