import type { Worker } from 'node:worker_threads';
import type { FolderWrite, JanitorBatch, JanitorOp, JanitorReply } from './janitor-thread.js';
import { startModuleThread } from './module-thread.js';

export type { FolderWrite } from './janitor-thread.js';

interface Waiting {
  resolve: () => void;
  reject: (error: Error) => void;
}

interface Queued {
  op: JanitorOp;
  waiting: Waiting;
}

/**
 * Held writes are sent up to this much after they are due, so that one timer and one message to the thread carry
 * all the writes that fell due meanwhile (at 1,000 uploads/s, 25 of them) instead of one or two each.
 */
const HOLD_BATCH_MS = 25;

/**
 * Removals alone go to the thread up to this much after they are asked for, or once REMOVE_BATCH_OPS of them wait
 * (or one that its caller waits for): nobody waits for a purge's removal while the thread keeps up (a purge is
 * done once its log record is written), and every message wakes the thread, and its answer the event loop. A drain
 * asked for one removal per turn of the event loop, so it sent one message per replayed file: ~12 % of the main
 * thread's CPU in the drain (postMessage), on the virtual machines we measured.
 */
const REMOVE_BATCH_MS = 10;
const REMOVE_BATCH_OPS = 64;

export interface WriteOptions {
  /**
   * Keep the write back this long before it goes to the thread. A `remove` of the same folder meanwhile cancels
   * it: an entry replayed and purged within that time never touches the disk (no inode made and freed again),
   * which is what a relay with a healthy peer does with nearly every entry. Only for a folder no other write
   * links to.
   */
  holdMs?: number;
}

/**
 * Writes and removes entry folders on a thread of its own (janitor-thread.ts). Each file-system call sent through
 * libuv's thread pool costs the event loop tens of microseconds, and unlinks and creates wait on the file system's
 * journal; here a whole batch (everything asked for in one turn of the event loop; removals alone, everything
 * asked for within REMOVE_BATCH_MS) costs one message each way, and the waiting happens off the main thread.
 *
 * Writes are not fsynced, nor atomic: the write-ahead log makes them durable and whole (see FsJournalStore).
 * Removal: `files` first (config.XML first makes the entry invisible at once: a folder without one is cleared at
 * start-up), then the folder; a folder that holds more (the leftovers of an interrupted write) is removed
 * recursively.
 */
export class FolderJanitor {
  private readonly worker: Worker;
  private queued: Queued[] = [];
  /** Writes held back (see WriteOptions.holdMs), by folder, oldest first, with the time they are due. */
  private readonly held = new Map<string, Queued & { due: number }>();
  private holdTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private readonly sent = new Map<number, Waiting[]>();
  /** Operations sent to the thread that it has not answered yet. */
  private sentOps = 0;
  private nextBatch = 1;
  private flushScheduled = false;
  /** Set while only removals are queued: sends them at REMOVE_BATCH_MS. */
  private removeTimer: NodeJS.Timeout | undefined;
  private failure: Error | undefined;
  private drained: (() => void) | undefined;

  /** `files`: the names to unlink first in every folder removed, in order. */
  constructor(private readonly files: readonly string[]) {
    this.worker = startModuleThread('janitor-thread', import.meta.url);
    this.worker.unref(); // an idle janitor never keeps the process alive
    this.worker.on('message', ({ batch, failures }: JanitorReply) => {
      const waiting = this.sent.get(batch) ?? [];
      this.sent.delete(batch);
      this.sentOps -= waiting.length;
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

  /**
   * Resolves once `dir` and the files in it are gone (removing a missing folder is not an error). A write of
   * `dir` still held back is dropped instead of done (its caller hears it succeeded: what it wrote is gone either
   * way); the removal still runs, for whatever else may be there. `awaited`: the caller waits for it, so it goes
   * at the end of this turn of the event loop, not within REMOVE_BATCH_MS.
   */
  remove(dir: string, options: { awaited?: boolean } = {}): Promise<void> {
    const held = this.held.get(dir);
    if (held) {
      this.held.delete(dir);
      held.waiting.resolve();
    }
    return this.enqueue({ remove: dir }, options.awaited);
  }

  /** Writes and removals asked for and not done yet, held-back writes aside. */
  get behind(): number {
    return this.queued.length + this.sentOps;
  }

  /** Sends the held-back write of `dir` (all of them without `dir`) to the thread now. */
  release(dir?: string): void {
    if (dir !== undefined) {
      // One lookup: every write asks for its own folder first, while hundreds may be held (a 500 ms hold at
      // ingest rates), so a walk of them here was a cost per write that grew with the ingest rate.
      const held = this.held.get(dir);
      if (!held) return;
      this.held.delete(dir);
      this.queue(held);
      return;
    }
    for (const [key, held] of this.held) {
      this.held.delete(key);
      this.queue(held);
    }
  }

  /**
   * Resolves once the folder's links and files are in place (not fsynced). Binary data is copied for the thread
   * when the write is sent (a held write dropped by `remove` costs no copy); the caller's bytes must not change
   * until this resolves (the journal serves them from memory until they are written).
   */
  write(folder: FolderWrite, options: WriteOptions = {}): Promise<void> {
    this.release(folder.dir); // writes of one folder keep their order
    const { holdMs } = options;
    if (!holdMs || this.failure || this.closing) return this.enqueue(folder);
    // Deadlines on the monotonic clock: a wall clock stepped back would hold every write that much longer.
    const due = performance.now() + holdMs;
    return new Promise<void>((resolve, reject) => {
      this.held.set(folder.dir, { op: folder, waiting: { resolve, reject }, due });
      this.holdTimer ??= setTimeout(() => this.releaseDue(), holdMs + HOLD_BATCH_MS);
    });
  }

  /** Waits for everything asked for so far (held writes go now), then stops the thread. */
  async close(): Promise<void> {
    this.closing = true; // from now on nothing is held back
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    this.release();
    this.flush();
    if (this.sent.size > 0 && !this.failure) await new Promise<void>((resolve) => (this.drained = resolve));
    this.failure ??= new Error('the journal janitor is closed');
    await this.worker.terminate();
  }

  private enqueue(op: JanitorOp, awaited = false): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => this.queue({ op, waiting: { resolve, reject } }, awaited));
  }

  private queue(item: Queued, awaited = false): void {
    if (this.failure) {
      item.waiting.reject(this.failure);
      return;
    }
    this.queued.push(item);
    if (this.flushScheduled) return;
    if ('remove' in item.op && !awaited && this.queued.length < REMOVE_BATCH_OPS && !this.closing) {
      this.removeTimer ??= setTimeout(() => this.flush(), REMOVE_BATCH_MS);
      return;
    }
    // A write, a removal someone waits for, or enough removals: at the end of this turn of the event loop.
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /**
   * Sends the held writes that are due (the map is in the order they were held), and waits for the next one and
   * those falling due just after it (HOLD_BATCH_MS).
   */
  private releaseDue(): void {
    this.holdTimer = undefined;
    const now = performance.now();
    for (const [dir, held] of this.held) {
      if (held.due > now) {
        this.holdTimer = setTimeout(() => this.releaseDue(), held.due - now + HOLD_BATCH_MS);
        return;
      }
      this.held.delete(dir);
      this.queue(held);
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    clearTimeout(this.removeTimer);
    this.removeTimer = undefined;
    if (this.queued.length === 0 || this.failure) return;
    const batch = this.nextBatch++;
    const queued = this.queued;
    this.queued = [];
    this.sent.set(
      batch,
      queued.map((q) => q.waiting),
    );
    this.sentOps += queued.length;
    this.worker.ref(); // work in progress keeps the process alive
    const transfer: ArrayBuffer[] = [];
    const ops = queued.map(({ op }) => ('remove' in op ? op : forThread(op, transfer)));
    this.worker.postMessage({ batch, ops, files: this.files } satisfies JanitorBatch, transfer);
  }

  private settle(): void {
    if (this.sent.size > 0 || this.queued.length > 0 || this.held.size > 0) return;
    this.worker.unref();
    this.drained?.();
  }

  private failAll(error: Error): void {
    this.failure ??= error;
    for (const waiting of this.sent.values()) for (const w of waiting) w.reject(error);
    this.sent.clear();
    this.sentOps = 0;
    for (const q of [...this.queued, ...this.held.values()]) q.waiting.reject(error);
    this.queued = [];
    this.held.clear();
    clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    clearTimeout(this.removeTimer);
    this.removeTimer = undefined;
    this.drained?.();
  }
}

/**
 * The write with its binary data copied into memory of its own, which moves to the thread: cloning the view
 * would copy all the memory it shares (Node pools small buffers), and moving the caller's own memory would take
 * it away from them.
 */
function forThread(op: FolderWrite, transfer: ArrayBuffer[]): FolderWrite {
  const files = op.files.map((file) => {
    if (!('data' in file) || typeof file.data === 'string') return file;
    const copy = new Uint8Array(file.data);
    transfer.push(copy.buffer);
    return { name: file.name, data: copy };
  });
  return { ...op, files };
}
