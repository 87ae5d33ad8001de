import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import type { Readable } from 'node:stream';

const CHUNK = 1 << 20;

/**
 * A file opened once for hashing and then uploading. Both passes read the same open file, so a file replaced
 * under the same name meanwhile (editors save that way) is still read consistently: the old version is sent,
 * and the watcher reports the new one as a change of its own. Neither pass holds more than a chunk in memory.
 */
export class BodyFile {
  private constructor(
    private readonly handle: FileHandle,
    readonly stat: Stats,
  ) {}

  /** Opens a regular file; undefined when nothing (or a folder) is there. */
  static async open(path: string): Promise<BodyFile | undefined> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    const stat = await handle.stat();
    if (!stat.isFile()) {
      await handle.close();
      return undefined;
    }
    return new BodyFile(handle, stat);
  }

  /** SHA-256 (lowercase hex) and length of the bytes as they are now. */
  async digest(): Promise<{ sha256: string; size: number }> {
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of this.stream()) {
      size += (chunk as Buffer).length;
      hash.update(chunk as Buffer);
    }
    return { sha256: hash.digest('hex'), size };
  }

  /** A fresh stream from the first byte; the file stays open for the next one. */
  stream(): Readable {
    return this.handle.createReadStream({ start: 0, autoClose: false, highWaterMark: CHUNK });
  }

  /** True when size, mtime or inode moved since `open`: the file is being written. */
  async changedSinceOpen(): Promise<boolean> {
    const now = await this.handle.stat();
    return now.size !== this.stat.size || now.mtimeMs !== this.stat.mtimeMs || now.ino !== this.stat.ino;
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR';
}
