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
}

interface Watch {
  last: FileStat | undefined;
  since: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Decides when a file is completely written. File systems report writes, not their end, so a file counts as
 * finished once its size, modification time and inode have held still for `stabilityMs`: a half-written file is
 * never uploaded. Further writes while a file is watched simply restart its wait.
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
    this.schedule(rel, watch, 0);
  }

  /** Stops watching `rel` and everything below it (deleted or moved away). */
  cancelBelow(rel: string): void {
    for (const [path, watch] of this.watches) {
      if (!isSameOrBelow(path, rel)) continue;
      clearTimeout(watch.timer);
      this.watches.delete(path);
    }
  }

  /** Stops every watch and returns the paths that were still settling. */
  drain(): string[] {
    const paths = [...this.watches.keys()];
    for (const watch of this.watches.values()) clearTimeout(watch.timer);
    this.watches.clear();
    return paths;
  }

  private schedule(rel: string, watch: Watch, delay: number): void {
    watch.timer = setTimeout(() => {
      this.sample(rel, watch).catch((error: unknown) => {
        if (this.watches.get(rel) === watch) this.watches.delete(rel);
        this.options.onError(error);
      });
    }, delay);
  }

  private async sample(rel: string, watch: Watch): Promise<void> {
    const now = await this.options.stat(rel);
    if (this.watches.get(rel) !== watch) return; // cancelled meanwhile
    if (now?.kind !== 'file') {
      // Gone (a delete or rename event follows) or replaced by a folder (an addDir event follows).
      this.watches.delete(rel);
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
      this.watches.delete(rel);
      this.options.onStable(rel, now);
      return;
    }
    // Changed: sample again soon. Unchanged: one more sample when the wait would be over (a write meanwhile
    // moves mtime, so that sample sees it), instead of one every pollMs: a burst of new files costs a few stats each.
    const poll = Math.min(this.options.pollMs, this.options.stabilityMs);
    const rest = watch.since + this.options.stabilityMs - Date.now();
    this.schedule(rel, watch, unchanged ? Math.max(poll, rest) : poll);
  }
}
