import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsyncPath } from './fsync.js';

export interface ReplaceOptions {
  /**
   * What is fsynced: `none` (a log record elsewhere already makes the content durable), `file` (the content,
   * before the rename; the caller makes the rename durable, e.g. with grouped folder fsyncs), or `file-and-folder`
   * (the content, then the folder after the rename: durable when this resolves). Default `file-and-folder`.
   */
  sync?: 'none' | 'file' | 'file-and-folder';
  /** Mode of a new file (default 0600: these files are the program's own state). */
  mode?: number;
  /**
   * The temporary name (default: `<file>.tmp-<pid>-<random>`, unique, so concurrent writers of one file never
   * share one). A fixed name suits a file with a single writer whose start-up clears the leftover.
   */
  temporary?: string;
}

/** `<file>.tmp-<pid>-<random>`: the names a start-up recognises (`.tmp-`) as leftovers of an interrupted write. */
export function temporaryName(file: string): string {
  return `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
}

/**
 * Replaces `file` with `data` as a whole: written under a temporary name, then renamed over it, so that a crash
 * leaves the old content or the new one, never a mix (rename(2) is atomic). The temporary file is removed if the
 * write fails.
 */
export async function replaceFile(
  file: string,
  data: string | Uint8Array,
  options: ReplaceOptions = {},
): Promise<void> {
  const sync = options.sync ?? 'file-and-folder';
  await throughTemporaryName(
    file,
    async (temporary, flags) => {
      const handle = await open(temporary, flags, options.mode ?? 0o600);
      try {
        await handle.writeFile(data);
        if (sync !== 'none') await handle.sync();
      } finally {
        await handle.close();
      }
    },
    options.temporary,
  );
  if (sync === 'file-and-folder') await fsyncPath(dirname(file));
}

/**
 * Runs `write` on a temporary name beside `file`, then renames the result into place; on failure the temporary
 * file is removed and the error passes on. `flags` is what `write` should open the file with: `wx` for a unique
 * name (never an existing file), `w` for a fixed one (a leftover is overwritten).
 */
export async function throughTemporaryName<T>(
  file: string,
  write: (temporary: string, flags: 'w' | 'wx') => Promise<T>,
  temporary?: string,
): Promise<T> {
  const name = temporary ?? temporaryName(file);
  try {
    const result = await write(name, temporary === undefined ? 'wx' : 'w');
    await rename(name, file);
    return result;
  } catch (error) {
    await rm(name, { force: true });
    throw error;
  }
}
