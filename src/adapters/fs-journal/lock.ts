import { open, readFile, rm } from 'node:fs/promises';
import { RelayError } from '../../core/errors.js';

/** Another live process already owns this journal folder. */
export class JournalLockedError extends RelayError {
  readonly code = 'JOURNAL_LOCKED';
}

/**
 * One relay per journal folder: two would replay the same entries twice and race on purges. The lock file holds
 * the owner's pid; a lock whose process is gone (killed, crashed) is taken over, so a restart after SIGKILL works.
 */
export async function acquireJournalLock(file: string): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(file, 'wx', 0o644);
      await handle.writeFile(`${process.pid}\n`);
      await handle.sync();
      await handle.close();
      return () => rm(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
        throw new JournalLockedError(`the journal is in use by process ${owner} (lock file ${file})`);
      }
      await rm(file, { force: true });
    }
  }
  throw new JournalLockedError(`could not take the journal lock ${file}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
