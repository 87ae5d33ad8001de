import { open } from 'node:fs/promises';

/** Makes the names in `dir` durable (a rename, a new or removed file): fsync of the folder itself. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
