// The journal janitor's thread (see janitor.ts): writes and removes entry folders with synchronous calls, a whole
// batch per message. Runs only inside a worker thread started by FolderJanitor.
import { linkSync, mkdirSync, rmdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort } from 'node:worker_threads';

/**
 * An entry folder to write: hard links, then files in order, written in place — no temporary name and rename:
 * every write here stands for a write-ahead-log record, which repairs a torn or empty file at the next start,
 * and two fewer metadata operations per file keep the log's fsyncs (one file-system journal) short.
 */
export interface FolderWrite {
  dir: string;
  /** In order; the last one is what makes the entry visible (config.XML). */
  files: { name: string; data: string | Uint8Array }[];
  /** `name` in `dir` becomes a hard link to `target` (a body shared with another lane). Made before the files. */
  links?: { name: string; target: string }[];
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

function write({ dir, files, links }: FolderWrite): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const { name, target } of links ?? []) {
    try {
      unlinkSync(join(dir, name));
    } catch (error) {
      ignoreMissing(error);
    }
    linkSync(target, join(dir, name));
  }
  for (const { name, data } of files) writeFileSync(join(dir, name), data, { mode: 0o600 });
}

export function runBatch({ batch, ops, files }: JanitorBatch): JanitorReply {
  const failures: [number, string][] = [];
  ops.forEach((op, i) => {
    try {
      if ('remove' in op) remove(op.remove, files);
      else write(op);
    } catch (error) {
      failures.push([i, error instanceof Error ? error.message : String(error)]);
    }
  });
  return { batch, failures };
}

parentPort?.on('message', (message: JanitorBatch) => parentPort!.postMessage(runBatch(message)));
