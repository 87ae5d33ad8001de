import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import type { Readable } from 'node:stream';

const CHUNK = 1 << 20;
/** Files up to this size are read once, into memory, for both the hash and the upload. */
const SMALL_FILE_BYTES = 256 * 1024;

/**
 * A file opened once for hashing and then uploading. Both passes read the same open file, so a file replaced
 * under the same name meanwhile (editors save that way) is still read consistently: the old version is sent,
 * and the watcher reports the new one as a change of its own. Neither pass holds more than a chunk in memory;
 * a small file (most of them) is read once and both passes use those bytes.
 */
export class BodyFile {
  private bytes: Buffer | undefined;

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
    if (this.stat.size <= SMALL_FILE_BYTES) {
      this.bytes = await this.readSmall();
      return { sha256: createHash('sha256').update(this.bytes).digest('hex'), size: this.bytes.length };
    }
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of this.stream()) {
      size += (chunk as Buffer).length;
      hash.update(chunk as Buffer);
    }
    return { sha256: hash.digest('hex'), size };
  }

  /** A fresh stream from the first byte (the bytes `digest` read, for a small file); the file stays open. */
  stream(): Readable | AsyncIterable<Uint8Array> {
    const bytes = this.bytes;
    if (bytes)
      return (async function* () {
        yield bytes;
      })();
    return this.handle.createReadStream({ start: 0, autoClose: false, highWaterMark: CHUNK });
  }

  /** The whole file as it is now (one byte over the size at open tells that it grew). */
  private async readSmall(): Promise<Buffer> {
    const buffer = Buffer.allocUnsafe(this.stat.size + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await this.handle.read(buffer, length, buffer.length - length, length);
      length += bytesRead;
      if (bytesRead === 0 || length === buffer.length) return buffer.subarray(0, length);
    }
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
