import { type FileStat, isSameOrBelow } from './file-index.js';

export interface StabilityOptions {
  /** lstat of a relative path; undefined when it is gone or no longer a regular file. */
  stat(rel: string): Promise<FileStat | undefined>;
  /** Size, mtime and inode unchanged for this long: the writer is done. */
  stabilityMs: number;
  /** How often a file being written is sampled. */
  pollMs: number;
  onStable(rel: string, stat: FileStat): void;
  onError(error: unknown): void;
  /** Where the OS says when a file is closed after writing (see close-write.ts): then no wait is needed. */
  closes?: FileCloses;
}

/** CloseSignal in the tracker's terms: paths relative to the watched folder. */
export interface FileCloses {
  retain(rel: string): void;
  release(rel: string): void;
  closedAfterWrite(rel: string): boolean;
}

/** With a close signal, a file being written is looked at this often (an lstat and a read that never blocks). */
const CLOSE_POLL_MS = 20;

interface Watch {
  last: FileStat | undefined;
  since: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Decides when a file is completely written: once the OS says it was closed after writing and no one holds it open
 * (where there is such a signal, see close-write.ts), or else once its size, modification time and inode have held
 * still for `stabilityMs` — a half-written file is never uploaded. A file held open by a writer that pauses (a log)
 * is still taken after `stabilityMs` of stillness, as without the signal. Further writes while a file is watched
 * simply restart its wait.
 */
export class StabilityTracker {
  private readonly watches = new Map<string, Watch>();

  constructor(private readonly options: StabilityOptions) {}

  get size(): number {
    return this.watches.size;
  }

  has(rel: string): boolean {
    return this.watches.has(rel);
  }

  /** Starts watching `rel` (no-op when it is watched already: the next sample sees the new write). */
  track(rel: string): void {
    if (this.watches.has(rel)) return;
    const watch: Watch = { last: undefined, since: Date.now(), timer: undefined };
    this.watches.set(rel, watch);
    this.options.closes?.retain(rel);
    this.schedule(rel, watch, 0);
  }

  /** Stops watching `rel` and everything below it (deleted or moved away). */
  cancelBelow(rel: string): void {
    for (const [path, watch] of this.watches) {
      if (!isSameOrBelow(path, rel)) continue;
      clearTimeout(watch.timer);
      this.forget(path);
    }
  }

  /** Stops every watch and returns the paths that were still settling. */
  drain(): string[] {
    const paths = [...this.watches.keys()];
    for (const [path, watch] of this.watches) {
      clearTimeout(watch.timer);
      this.forget(path);
    }
    return paths;
  }

  private forget(rel: string): void {
    this.watches.delete(rel);
    this.options.closes?.release(rel);
  }

  private schedule(rel: string, watch: Watch, delay: number): void {
    watch.timer = setTimeout(() => {
      this.sample(rel, watch).catch((error: unknown) => {
        if (this.watches.get(rel) === watch) this.forget(rel);
        this.options.onError(error);
      });
    }, delay);
  }

  private async sample(rel: string, watch: Watch): Promise<void> {
    const now = await this.options.stat(rel);
    if (this.watches.get(rel) !== watch) return; // cancelled meanwhile
    if (now?.kind !== 'file') {
      // Gone (a delete or rename event follows) or replaced by a folder (an addDir event follows).
      this.forget(rel);
      return;
    }
    if (this.options.closes?.closedAfterWrite(rel)) {
      this.forget(rel);
      this.options.onStable(rel, now);
      return;
    }
    const unchanged =
      watch.last !== undefined &&
      watch.last.ino === now.ino &&
      watch.last.size === now.size &&
      watch.last.mtimeMs === now.mtimeMs;
    if (!unchanged) {
      watch.last = now;
      watch.since = Date.now();
    } else if (Date.now() - watch.since >= this.options.stabilityMs) {
      this.forget(rel);
      this.options.onStable(rel, now);
      return;
    }
    // With a close signal: look again soon, for the close. Without, changed: sample again soon; unchanged: one
    // more sample when the wait would be over (a write meanwhile moves mtime, so that sample sees it), instead of
    // one every pollMs: a burst of new files costs a few stats each.
    if (this.options.closes) return this.schedule(rel, watch, Math.min(CLOSE_POLL_MS, this.options.stabilityMs));
    const poll = Math.min(this.options.pollMs, this.options.stabilityMs);
    const rest = watch.since + this.options.stabilityMs - Date.now();
    this.schedule(rel, watch, unchanged ? Math.max(poll, rest) : poll);
  }
}
