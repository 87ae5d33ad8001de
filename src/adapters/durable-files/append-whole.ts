import type { FileHandle } from 'node:fs/promises';

/**
 * Appends all of `text` to a file opened for appending. One write may take only part of it — a nearly full disk
 * writes what fits and reports no error, and the next write fails — so a single `write` that is not checked leaves
 * a torn line that the caller counts as written. If the whole cannot be written, the file is cut back to
 * `sizeBefore` (best effort: no torn line stays for later lines to follow) and the error is thrown.
 */
export async function appendWhole(handle: FileHandle, text: string, sizeBefore: number): Promise<void> {
  const data = Buffer.from(text);
  let at = 0;
  try {
    while (at < data.length) {
      const { bytesWritten } = await handle.write(data, at, data.length - at);
      if (bytesWritten <= 0) throw new Error('a write to the file wrote nothing');
      at += bytesWritten;
    }
  } catch (error) {
    if (at > 0) await handle.truncate(sizeBefore).catch(() => {});
    throw error;
  }
}
