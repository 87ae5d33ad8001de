import { open } from 'node:fs/promises';

/**
 * fsync of a file or a folder by name. A folder's fsync is what makes the names in it durable: a new file, a
 * rename or a removal in it survives a power cut only after it (fsync(2), "Calling fsync() does not necessarily
 * ensure that the entry in the directory containing the file has also reached disk").
 */
export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
