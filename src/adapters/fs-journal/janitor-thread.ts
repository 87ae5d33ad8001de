// The journal janitor's thread (see janitor.ts): writes and removes entry folders with synchronous calls, a whole
// batch per message. Runs only inside a worker thread started by FolderJanitor.
import {
  closeSync,
  linkSync,
  mkdirSync,
  openSync,
  readSync,
  rmdirSync,
  rmSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { parentPort } from 'node:worker_threads';
import { IO_THREAD_NAME } from './io-thread-name.js';

/**
 * An entry folder to write: hard links, then files in order, written in place — no temporary name and rename:
 * every write here stands for a write-ahead-log record, which repairs a torn or empty file at the next start,
 * and two fewer metadata operations per file keep the log's fsyncs (one file-system journal) short.
 */
export interface FolderWrite {
  dir: string;
  /**
   * In order; the last one is what makes the entry visible (config.XML). A file's content is `data`, or `from`:
   * bytes the thread reads from another file (a body, from the write-ahead log that already holds it: no copy
   * of it is made on the main thread, nor sent here).
   */
  files: ({ name: string; data: string | Uint8Array } | { name: string; from: FileSlice })[];
  /** `name` in `dir` becomes a hard link to `target` (a body shared with another lane). Made before the files. */
  links?: { name: string; target: string }[];
}

/** `length` bytes of `file` from `offset`. */
export interface FileSlice {
  file: string;
  offset: number;
  length: number;
}

export type JanitorOp = { remove: string } | FolderWrite;

/** A batch for the thread: `files` are the names to unlink first in every folder removed, in order. */
export interface JanitorBatch {
  batch: number;
  ops: JanitorOp[];
  files: readonly string[];
}

/** The thread's answer to a batch: the index and message of every op that failed. */
export interface JanitorReply {
  batch: number;
  failures: [number, string][];
}

function ignoreMissing(error: unknown): void {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
}

/** `files` first (config.XML first makes the entry invisible at once), then the folder, whatever else it holds. */
function remove(dir: string, files: readonly string[]): void {
  for (const name of files) {
    try {
      unlinkSync(join(dir, name));
    } catch (error) {
      ignoreMissing(error);
    }
  }
  try {
    rmdirSync(dir);
  } catch (error) {
    // The leftovers of an interrupted write.
    if ((error as NodeJS.ErrnoException).code === 'ENOTEMPTY') rmSync(dir, { recursive: true, force: true });
    else ignoreMissing(error);
  }
}

function write({ dir, files, links }: FolderWrite, sources: Sources): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const { name, target } of links ?? []) {
    try {
      unlinkSync(join(dir, name));
    } catch (error) {
      ignoreMissing(error);
    }
    linkSync(target, join(dir, name));
  }
  for (const file of files) {
    if ('data' in file) writeFileSync(join(dir, file.name), file.data, { mode: 0o600 });
    else copySlice(file.from, join(dir, file.name), sources);
  }
}

/** Files read from during one batch, opened once each (a batch's bodies mostly come from one log segment). */
class Sources {
  private readonly open = new Map<string, number>();

  fd(file: string): number {
    let fd = this.open.get(file);
    if (fd === undefined) {
      fd = openSync(file, 'r');
      this.open.set(file, fd);
    }
    return fd;
  }

  close(): void {
    for (const fd of this.open.values()) closeSync(fd);
    this.open.clear();
  }
}

/** One buffer for every copy: bodies here are at most a few hundred KiB, copied in chunks of this size. */
const chunk = Buffer.allocUnsafe(256 * 1024);

function copySlice({ file, offset, length }: FileSlice, to: string, sources: Sources): void {
  const from = sources.fd(file);
  const out = openSync(to, 'w', 0o600);
  try {
    for (let done = 0; done < length; ) {
      const got = readSync(from, chunk, 0, Math.min(chunk.length, length - done), offset + done);
      if (got === 0) throw new Error(`${file} ends before byte ${offset + length}`);
      for (let written = 0; written < got; ) written += writeSync(out, chunk, written, got - written);
      done += got;
    }
  } finally {
    closeSync(out);
  }
}

export function runBatch({ batch, ops, files }: JanitorBatch): JanitorReply {
  const failures: [number, string][] = [];
  const sources = new Sources();
  try {
    ops.forEach((op, i) => {
      try {
        if ('remove' in op) remove(op.remove, files);
        else write(op, sources);
      } catch (error) {
        failures.push([i, error instanceof Error ? error.message : String(error)]);
      }
    });
  } finally {
    sources.close();
  }
  return { batch, failures };
}

if (parentPort) {
  // Linux lets a thread rename itself through /proc; elsewhere (or with /proc hidden) it keeps its name.
  try {
    writeFileSync('/proc/thread-self/comm', IO_THREAD_NAME);
  } catch {
    // not Linux, or no /proc: only the name is lost
  }
  parentPort.on('message', (message: JanitorBatch) => parentPort!.postMessage(runBatch(message)));
}
