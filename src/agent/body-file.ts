import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, read, readSync, type Stats } from 'node:fs';

const CHUNK = 1 << 20;
/** Files up to this size are read once, into memory, for both the hash and the upload. */
const SMALL_FILE_BYTES = 256 * 1024;

/**
 * A file opened once for hashing and then uploading. Both passes read the same open file, so a file replaced
 * under the same name meanwhile (editors save that way) is still read consistently: the old version is sent,
 * and the watcher reports the new one as a change of its own. Neither pass holds more than a chunk in memory;
 * a small file (most of them) is read once and both passes use those bytes.
 *
 * Opening, stat and the read of a small file are synchronous: for a local file they cost microseconds, while
 * each thread-pool round trip costs the event loop several times that, and a burst of new files means a few
 * per file. Large files stream asynchronously.
 */
export class BodyFile {
  private bytes: Buffer | undefined;
  private closed = false;
  /** The chunk read in progress, for `close`. */
  private reading: Promise<number> | undefined;

  private constructor(
    private readonly fd: number,
    readonly stat: Stats,
  ) {}

  /** Opens a regular file; undefined when nothing (or a folder) is there. */
  static async open(path: string): Promise<BodyFile | undefined> {
    let fd: number;
    try {
      // O_NONBLOCK: a FIFO put in the watched folder must not hang the agent (it is refused below, not read).
      fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    const stat = fstatSync(fd);
    if (!stat.isFile()) {
      closeSync(fd);
      return undefined;
    }
    return new BodyFile(fd, stat);
  }

  /** SHA-256 (lowercase hex) and length of the bytes as they are now. */
  async digest(): Promise<{ sha256: string; size: number }> {
    if (this.stat.size <= SMALL_FILE_BYTES) {
      this.bytes = this.readSmall();
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

  /**
   * The bytes from the first one (those `digest` read, for a small file), chunk by chunk; the file stays open
   * for the next pass (a stream over the descriptor would close it when it ends).
   */
  stream(): AsyncIterable<Uint8Array> {
    const bytes = this.bytes;
    if (bytes)
      return (async function* () {
        yield bytes;
      })();
    const file = this;
    return (async function* () {
      for (let position = 0; !file.closed; ) {
        const chunk = Buffer.allocUnsafe(CHUNK);
        const reading = new Promise<number>((resolve, reject) =>
          read(file.fd, chunk, 0, CHUNK, position, (error, n) => (error ? reject(error) : resolve(n))),
        );
        file.reading = reading.catch(() => 0);
        const bytesRead = await reading;
        if (bytesRead === 0) return;
        position += bytesRead;
        yield chunk.subarray(0, bytesRead);
      }
    })();
  }

  /** True when size, mtime or inode moved since `open`: the file is being written. */
  async changedSinceOpen(): Promise<boolean> {
    const now = fstatSync(this.fd);
    return now.size !== this.stat.size || now.mtimeMs !== this.stat.mtimeMs || now.ino !== this.stat.ino;
  }

  /** Closes the file once a read still running (an upload cut short) is over: its descriptor is never reused under it. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.reading;
    closeSync(this.fd);
  }

  /** The whole file as it is now (one byte over the size at open tells that it grew). */
  private readSmall(): Buffer {
    const buffer = Buffer.allocUnsafe(this.stat.size + 1);
    let length = 0;
    for (;;) {
      const bytesRead = readSync(this.fd, buffer, length, buffer.length - length, length);
      length += bytesRead;
      if (bytesRead === 0 || length === buffer.length) return buffer.subarray(0, length);
    }
  }
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR';
}
