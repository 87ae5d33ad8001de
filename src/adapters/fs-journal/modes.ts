import { chmod, mkdir } from 'node:fs/promises';

/**
 * The journal holds every replicated file and the admin token: only the relay's own user may read it. New folders
 * are made 0700 and files 0600 (whatever the umask adds, it only takes away).
 */
export const PRIVATE_DIR = 0o700;
export const PRIVATE_FILE = 0o600;

/**
 * Creates `folders` (each may be inside the one before) and makes them 0700, also when they already existed with a
 * wider mode (a journal from before, a folder made by hand): nothing below is reachable by another user then.
 */
export async function makePrivate(...folders: string[]): Promise<void> {
  for (const folder of folders) {
    await mkdir(folder, { recursive: true, mode: PRIVATE_DIR });
    await chmod(folder, PRIVATE_DIR);
  }
}
