import { copyFile, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fsyncPath } from '../adapters/durable-files/fsync.js';
import type { Logger } from '../core/logger.js';
import { OUTBOX_LOCK, OUTBOX_LOG } from './outbox.js';
import { acquireOutboxLock } from './outbox-lock.js';

/** In the state folder while a move is under way: names the folder the state comes from. */
export const MOVING_FROM = 'moving-from';

export interface StateMoveOptions {
  logger: Logger;
  /** Test seam: called before each change on disk; a test throws from it to stop the move there, as a crash would. */
  beforeStep?: (step: string) => void;
  /** Test seam: how a file is renamed (a test fails it with EXDEV to take the path across file systems). */
  rename?: (from: string, to: string) => Promise<void>;
}

export type StateMoveOutcome = 'moved' | 'none' | 'kept';

/**
 * Moves an outbox folder of an older agent (`from`: its outbox log, index, set-aside changes) into the state
 * folder `to`, so that nothing it holds is lost or sent twice. Crash-safe at every step:
 *
 * 1. `to/moving-from` names `from` (written and fsynced first);
 * 2. every file but the outbox log moves over (rename; across file systems a copy, fsynced, renamed into place);
 * 3. the outbox log moves last: its arrival in `to` is the commit — from then on `to` holds the state;
 * 4. `from` is removed, then `moving-from`.
 *
 * Stopped before 3, the next start finds `from` still holding its log and moves the rest; stopped after 3, it
 * finds `to` holding the log and `moving-from` naming `from`, and only removes `from`. A state folder that holds
 * a log of its own (and no `moving-from` naming `from`) is never overwritten: `from` is left alone, with a
 * warning. The older outbox's lock is held throughout, so an older agent still running there is not moved
 * from under itself (the move fails with OUTBOX_LOCKED naming it).
 */
export async function moveLegacyState(from: string, to: string, options: StateMoveOptions): Promise<StateMoveOutcome> {
  const step = options.beforeStep ?? (() => {});
  if (await exists(join(to, OUTBOX_LOG))) {
    if ((await movingFrom(to)) === from) {
      await finish(from, to, step); // stopped after the commit: only the clean-up was left
      options.logger.info('moved the outbox of an older agent into the state folder', { from, state: to });
      return 'moved';
    }
    if (await exists(join(from, OUTBOX_LOG))) {
      options.logger.warn('an older outbox was found but the state folder already holds one: it is left alone', {
        from,
        state: to,
        hint: `delete ${from} if what it holds is not needed; otherwise stop the agent and start it once with --state ${from}`,
      });
      return 'kept';
    }
    return 'none';
  }
  if (!(await exists(join(from, OUTBOX_LOG)))) return 'none';

  let release: () => Promise<void>;
  try {
    release = await acquireOutboxLock(join(from, OUTBOX_LOCK));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'none'; // moved meanwhile by another start
    throw error;
  }
  try {
    if (!(await exists(join(from, OUTBOX_LOG)))) return 'none'; // moved meanwhile (we may hold an unlinked lock)
    await mkdir(to, { recursive: true, mode: 0o700 });
    step('write moving-from');
    await writeDurably(join(to, MOVING_FROM), from);
    const move = options.rename ?? rename;
    for (const name of await readdir(from)) {
      if (name === OUTBOX_LOG || name === OUTBOX_LOCK || name.endsWith('.tmp')) continue;
      step(`move ${name}`);
      await moveFile(join(from, name), join(to, name), move);
    }
    await fsyncPath(to);
    step(`move ${OUTBOX_LOG}`);
    await moveFile(join(from, OUTBOX_LOG), join(to, OUTBOX_LOG), move);
    await fsyncPath(to);
    await fsyncPath(from);
  } finally {
    await release();
  }
  await finish(from, to, step);
  options.logger.info('moved the outbox of an older agent into the state folder', { from, state: to });
  return 'moved';
}

/** After the commit: the old folder goes, then the note that named it. */
async function finish(from: string, to: string, step: (name: string) => void): Promise<void> {
  step('remove old folder');
  await rm(from, { recursive: true, force: true });
  await fsyncPath(dirname(from)).catch(() => {}); // a parent we may not open: the removal happened all the same
  step('remove moving-from');
  await rm(join(to, MOVING_FROM), { force: true });
  await fsyncPath(to);
}

/** Renames `source` to `target`; across file systems, copies it (fsynced) under a temporary name and renames that. */
async function moveFile(
  source: string,
  target: string,
  move: (from: string, to: string) => Promise<void>,
): Promise<void> {
  try {
    await move(source, target);
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
  }
  if (!(await stat(source)).isFile()) return; // an outbox folder holds files only: anything else stays and goes
  const temp = `${target}.tmp`;
  await copyFile(source, temp);
  const handle = await open(temp, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, target); // the source stays until the move is committed and the old folder removed
}

async function movingFrom(dir: string): Promise<string | undefined> {
  try {
    return await readFile(join(dir, MOVING_FROM), 'utf8');
  } catch {
    return undefined;
  }
}

async function writeDurably(file: string, text: string): Promise<void> {
  const handle = await open(file, 'w', 0o600);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fsyncPath(dirname(file));
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
