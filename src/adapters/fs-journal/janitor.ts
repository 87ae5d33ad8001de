import { Worker } from 'node:worker_threads';

/**
 * Removes purged entry folders on a thread of its own. Unlinks wait on the file system's journal, and each one
 * sent through libuv's thread pool also costs the event loop tens of microseconds; here a whole batch (every
 * purge of one turn of the event loop) costs one message each way, and the waiting happens off the main thread.
 *
 * The worker's code is inline (no separate file to locate once the package is bundled). Per folder: config.XML
 * first, which makes the entry invisible at once (a folder without one is cleared at start-up), then the body,
 * then the folder; a folder that holds more (the leftovers of an interrupted write) is removed recursively.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { rmdirSync, rmSync, unlinkSync } = require('node:fs');
const { join } = require('node:path');
function removeFolder(dir, files) {
  for (const name of files) {
    try { unlinkSync(join(dir, name)); } catch (error) { if (error.code !== 'ENOENT') throw error; }
  }
  try { rmdirSync(dir); } catch (error) {
    if (error.code === 'ENOTEMPTY') rmSync(dir, { recursive: true, force: true });
    else if (error.code !== 'ENOENT') throw error;
  }
}
parentPort.on('message', ({ batch, dirs, files }) => {
  const failures = [];
  for (let i = 0; i < dirs.length; i++) {
    try { removeFolder(dirs[i], files); } catch (error) { failures.push([i, String(error && error.message || error)]); }
  }
  parentPort.postMessage({ batch, failures });
});
`;

interface Waiting {
  resolve: () => void;
  reject: (error: Error) => void;
}

interface Reply {
  batch: number;
  failures: [number, string][];
}

export class FolderJanitor {
  private readonly worker: Worker;
  private queued: { dir: string; waiting: Waiting }[] = [];
  private readonly sent = new Map<number, Waiting[]>();
  private nextBatch = 1;
  private flushScheduled = false;
  private failure: Error | undefined;
  private drained: (() => void) | undefined;

  /** `files`: the names to unlink first in every folder, in order. */
  constructor(private readonly files: readonly string[]) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true });
    this.worker.unref(); // an idle janitor never keeps the process alive
    this.worker.on('message', ({ batch, failures }: Reply) => {
      const waiting = this.sent.get(batch) ?? [];
      this.sent.delete(batch);
      const failed = new Map(failures);
      waiting.forEach((w, i) => {
        const message = failed.get(i);
        if (message === undefined) w.resolve();
        else w.reject(new Error(message));
      });
      this.settle();
    });
    this.worker.on('error', (error) => this.failAll(error));
    this.worker.on('exit', () => this.failAll(new Error('the journal janitor thread stopped')));
  }

  /** Resolves once `dir` and the files in it are gone (removing a missing folder is not an error). */
  remove(dir: string): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => {
      this.queued.push({ dir, waiting: { resolve, reject } });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Waits for every removal asked for so far, then stops the thread. */
  async close(): Promise<void> {
    this.flush();
    if (this.sent.size > 0 && !this.failure) await new Promise<void>((resolve) => (this.drained = resolve));
    this.failure ??= new Error('the journal janitor is closed');
    await this.worker.terminate();
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.queued.length === 0 || this.failure) return;
    const batch = this.nextBatch++;
    const queued = this.queued;
    this.queued = [];
    this.sent.set(
      batch,
      queued.map((q) => q.waiting),
    );
    this.worker.ref(); // work in progress keeps the process alive
    this.worker.postMessage({ batch, dirs: queued.map((q) => q.dir), files: this.files });
  }

  private settle(): void {
    if (this.sent.size > 0 || this.queued.length > 0) return;
    this.worker.unref();
    this.drained?.();
  }

  private failAll(error: Error): void {
    this.failure ??= error;
    for (const waiting of this.sent.values()) for (const w of waiting) w.reject(error);
    this.sent.clear();
    for (const q of this.queued) q.waiting.reject(error);
    this.queued = [];
    this.drained?.();
  }
}
