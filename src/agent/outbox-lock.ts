import { open, readFile, rm } from 'node:fs/promises';
import { OutboxLockedError } from './errors.js';

/**
 * One agent per outbox: two would send the same changes twice and interleave their records. The lock file holds
 * the owner's pid; a lock whose process is gone (killed, crashed) is taken over, so a restart after SIGKILL
 * resumes without manual cleanup.
 */
export async function acquireOutboxLock(file: string): Promise<() => Promise<void>> {
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
        throw new OutboxLockedError(`the outbox is in use by process ${owner} (lock file ${file})`);
      }
      if (owner === process.pid) {
        throw new OutboxLockedError(`the outbox is already open in this process (lock file ${file})`);
      }
      await rm(file, { force: true });
    }
  }
  throw new OutboxLockedError(`could not take the outbox lock ${file}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
