import { FileIndex, type FileStat, isSameOrBelow, sameContent, sameIdentity } from './file-index.js';
import { type FileCloses, StabilityTracker } from './stability.js';

/** A change in the watched folder, in its terms: paths relative to the folder, `/`-separated. */
export type LocalChange =
  | { action: 'upload' | 'makedir' | 'delete'; path: string }
  | { action: 'rename'; path: string; target: string };

/** What the file watcher reports (chokidar's event names); `initial` marks the listing made at start. */
export interface WatchEvent {
  type: 'add' | 'change' | 'addDir' | 'unlink' | 'unlinkDir';
  path: string;
  initial?: boolean;
}

export interface DetectorOptions {
  /** lstat of a relative path: undefined when it is missing or neither a regular file nor a folder. */
  stat(rel: string): Promise<FileStat | undefined>;
  /** Receives the changes, in the order they must be replayed. */
  emit(change: LocalChange): void;
  /** How long a removed path waits for the add that would make it a rename. */
  renameWindowMs: number;
  /** How long a file must hold still before it is uploaded. */
  stabilityMs: number;
  pollMs?: number;
  /** Where the OS tells when a file was closed after writing (see close-write.ts); else only the wait. */
  closes?: FileCloses;
  /** Report what the initial listing finds (makedir, upload) instead of only remembering it. */
  initialScan?: boolean;
  /** Told about each file and folder of the initial listing (scan progress). */
  onListed?(stat: FileStat): void;
  /**
   * Report a folder's removal or move as the removal (and upload under the new name) of each file it held, never
   * as one change of the folder: where folders mean nothing to the receiver (configuration documents are
   * `<scope>/<name>` files, so removing the folder `users` must remove each user document).
   */
  eachFile?: boolean;
  onError?(error: unknown): void;
}

/** Removed paths are reported at the latest after this many rename windows, however busy the folder is. */
const MAX_HOLD_WINDOWS = 10;

/**
 * Turns file-watcher events into replicable changes, recognising moves.
 *
 * Watchers report a move as a removal and an addition, in either order. The detector keeps an index of every
 * path it knows (inode, size, mtime) and, when a path appears, looks for the same inode under another name that
 * is gone: found, it is one `rename` (the peer moves the file, no byte is sent again); not found, the path is
 * new (makedir, or an upload once the file holds still). Removals wait a short window for their addition before
 * they become deletes. For a folder moved with its contents, the folder's rename carries every child along: the
 * children's own removal and addition events then find the index already up to date and report nothing.
 *
 * Order: every event is handled one after the other, and before anything is reported for a path, the pending
 * removals that overlap it are reported first, so the replayed sequence has the same effect as the local one.
 */
export class RenameDetector {
  readonly index = new FileIndex();
  /** Paths reported removed, waiting (at most a window) for the addition that would make them a move. */
  private readonly gone = new FileIndex();
  private readonly stability: StabilityTracker;
  private queue: Promise<void> = Promise.resolve();
  private queued = 0;
  private accepting = true;
  private closed = false;
  private flushTimer: NodeJS.Timeout | undefined;
  private firstGoneAt: number | undefined;
  /** Files of the initial scan still settling: each is uploaded when it settles (initialScan). */
  private readonly scanned = new Set<string>();

  constructor(private readonly options: DetectorOptions) {
    this.stability = new StabilityTracker({
      stat: options.stat,
      stabilityMs: options.stabilityMs,
      pollMs: options.pollMs ?? Math.max(10, Math.min(100, Math.floor(options.stabilityMs / 4))),
      onStable: (rel) => this.enqueue(() => this.settled(rel)),
      onError: (error) => this.fail(error),
      closes: options.closes,
    });
  }

  /** Takes one watcher event; handled after every event pushed before it. */
  push(event: WatchEvent): void {
    if (!this.accepting) return;
    this.enqueue(() => this.handle(event));
  }

  /**
   * What the folder held as far as reported changes go: the index, plus removals not reported yet (they still
   * stand on the peer). Files still settling are not in it: for a later start they are new.
   */
  remembered(): [string, FileStat][] {
    return [...this.index.entries(), ...this.gone.entries()];
  }

  /**
   * Tells `observer` of every change to what remembered() returns, as it happens. The changes that go with a
   * reported change are made in the same turn of the event loop as its emit (no await between them), so a
   * recorder that writes them after the emits made so far are durable never runs ahead of the outbox.
   */
  observe(observer: (path: string, stat: FileStat | undefined) => void): void {
    this.index.observer = observer;
    this.gone.observer = observer;
  }

  /**
   * The upload of `path` was never sent (its file vanished first): what is remembered there no longer stands for
   * what the peer has. Marked so (an impossible size) that no later start takes a file with the same inode found
   * elsewhere for a move of it — a MOVE would put the peer's older version under the new name — but sends that file
   * as new and the old name as deleted. (The absent set of the sender does the same within one run.)
   */
  notSent(path: string): void {
    this.enqueue(() => {
      const known = this.index.get(path);
      if (known?.kind === 'file') this.index.set(path, { ...known, size: -1 });
    });
  }

  /** Resolves once every event pushed so far has been handled (not waiting for files to settle). */
  handled(): Promise<void> {
    return this.queue;
  }

  /** Work not reported yet: queued events, removals waiting for a pair, files still being written. */
  get backlog(): number {
    return this.queued + this.gone.size + this.stability.size;
  }

  /**
   * Stops taking events and reports what is still held back: removals as deletes, files still settling as
   * uploads (their bytes are read when they are sent, by which time the writer has usually finished).
   */
  async drain(): Promise<void> {
    this.accepting = false;
    // Events still queued may start new stability waits: repeat until nothing is held back.
    do {
      for (const rel of this.stability.drain()) this.enqueue(() => this.settled(rel));
      this.enqueue(() => this.flushGone(() => true));
      await this.queue;
    } while (this.stability.size > 0);
    this.closed = true;
    this.resetFlush();
  }

  private enqueue(task: () => Promise<void> | void): void {
    if (this.closed) return;
    this.queued += 1;
    this.queue = this.queue
      .then(task)
      .catch((error: unknown) => this.fail(error))
      .finally(() => {
        this.queued -= 1;
      });
  }

  private async handle(event: WatchEvent): Promise<void> {
    if (event.path === '') return; // the watched folder itself
    switch (event.type) {
      case 'add':
      case 'change':
        return this.onFile(event.path, event.initial === true);
      case 'addDir':
        return this.onDir(event.path, event.initial === true);
      case 'unlink':
      case 'unlinkDir':
        return this.onRemoved(event.path);
    }
  }

  private async onFile(rel: string, initial: boolean): Promise<void> {
    const stat = await this.options.stat(rel);
    if (stat?.kind !== 'file') return; // gone again, or a folder now (its own event follows)
    if (initial) {
      this.options.onListed?.(stat);
      if (this.options.initialScan) {
        // Already complete if it has not been written for a while; otherwise it waits like any new file.
        if (Date.now() - stat.mtimeMs < this.options.stabilityMs) {
          this.scanned.add(rel); // uploaded once it settles, whatever an index from a previous run says
          return this.stability.track(rel);
        }
        this.flushOverlapping(rel); // a folder that stood here before (known from the last run) is removed first
        this.options.emit({ action: 'upload', path: rel });
      }
      this.index.set(rel, stat);
      return;
    }
    const known = this.index.get(rel);
    if (known && sameContent(known, stat)) return; // a moved folder's child, or a repeated event
    const from = await this.movedFrom(rel, stat);
    if (from !== undefined) return this.moved(from, rel, stat);
    this.stability.track(rel);
  }

  /** A file held still long enough: a move after all (its removal came late), or an upload. */
  private async settled(rel: string): Promise<void> {
    const stat = await this.options.stat(rel);
    const scanned = this.scanned.delete(rel);
    if (stat?.kind !== 'file') return;
    if (!scanned) {
      const known = this.index.get(rel);
      if (known && sameContent(known, stat)) return;
      const from = await this.movedFrom(rel, stat);
      if (from !== undefined) return this.moved(from, rel, stat);
    }
    // A file removed and written again under the same name: the upload replaces it, no delete needed.
    if (this.gone.get(rel)?.kind === 'file') this.gone.delete(rel);
    this.flushOverlapping(rel);
    this.index.set(rel, stat);
    this.options.emit({ action: 'upload', path: rel });
  }

  private async onDir(rel: string, initial: boolean): Promise<void> {
    const stat = await this.options.stat(rel);
    if (stat?.kind !== 'dir') return;
    if (initial) {
      this.options.onListed?.(stat);
      this.index.set(rel, stat);
      if (this.options.initialScan) {
        this.flushOverlapping(rel);
        this.options.emit({ action: 'makedir', path: rel });
      }
      return;
    }
    const known = this.index.get(rel);
    if (known && sameIdentity(known, stat)) return;
    const from = await this.movedFrom(rel, stat);
    if (from !== undefined) return this.moved(from, rel, stat);
    this.flushOverlapping(rel);
    this.index.set(rel, stat);
    this.options.emit({ action: 'makedir', path: rel });
  }

  private async onRemoved(rel: string): Promise<void> {
    // A removal reported late, when a new file already sits at the name (a rotated log), must not stop that
    // file's wait: only what is really gone stops waiting.
    if (!(await this.options.stat(rel))) this.stability.cancelBelow(rel);
    const known = this.index.delete(rel);
    if (!known) return; // never reported (ignored, still being written) or already carried by a folder move
    this.gone.set(rel, known);
    this.scheduleFlush();
  }

  /**
   * The path `stat` was known under before, if it has left it: removed already (waiting in `gone`), or still
   * indexed but no longer there (its removal event is late). A second name still holding the inode is a hard
   * link, not a move.
   */
  private async movedFrom(rel: string, stat: FileStat): Promise<string | undefined> {
    for (const candidate of this.gone.pathsOf(stat)) {
      if (candidate !== rel && sameContent(this.gone.get(candidate)!, stat)) return candidate;
    }
    for (const candidate of this.index.pathsOf(stat)) {
      if (candidate === rel || !sameContent(this.index.get(candidate)!, stat)) continue;
      const there = await this.options.stat(candidate);
      if (!there || !sameIdentity(there, stat)) return candidate;
    }
    return undefined;
  }

  private async moved(from: string, to: string, stat: FileStat): Promise<void> {
    // A removal at the target happened before the move (`rm b; mv a b`): it is replayed first.
    this.flushGone((p) => (isSameOrBelow(p, to) || isSameOrBelow(to, p)) && !isSameOrBelow(p, from));
    const carried: [string, FileStat][] = [];
    const missing: [string, FileStat][] = [];
    if (stat.kind === 'dir') {
      const below = [...this.index.subtree(from), ...this.gone.subtree(from)].filter(([p]) => p !== from);
      for (const [path, was] of below) {
        const renamed = to + path.slice(from.length);
        const now = await this.options.stat(renamed);
        (now && sameIdentity(now, was) ? carried : missing).push([renamed, was]);
      }
    }
    const isDir = stat.kind === 'dir';
    // Something new may already sit at the old name (a rotated log: `mv app.log app.log.1`, new `app.log`; a file
    // written where a folder was: `mv d e && echo x > d`): its wait is cancelled with the old one's below, so it
    // starts again. Looked at first: from here to the emit there is no await (see observe).
    const refilled = (await this.options.stat(from))?.kind === 'file';
    forget(this.index, from, isDir);
    forget(this.gone, from, isDir);
    this.stability.cancelBelow(from);
    if (refilled) this.stability.track(from);
    // The move replaces whatever was there (WebDAV MOVE with Overwrite: T).
    forget(this.index, to, this.index.get(to)?.kind === 'dir');
    if (isDir && this.options.eachFile) {
      for (const [path, was] of [...carried, ...missing]) {
        if (was.kind === 'file') this.options.emit({ action: 'delete', path: from + path.slice(to.length) });
      }
      for (const [path, was] of carried) if (was.kind === 'file') this.options.emit({ action: 'upload', path });
    } else {
      this.options.emit({ action: 'rename', path: from, target: to });
    }
    this.index.set(to, stat);
    // Children keep the stat they were known with: one modified during the move differs and is uploaded.
    for (const [path, was] of carried) this.index.set(path, was);
    // Children that did not arrive were removed or moved elsewhere around the folder's move. On the peer they
    // now sit under the new name: they wait there for a pair, then become deletes.
    for (const [path, was] of missing) this.gone.set(path, was);
    if (missing.length > 0) this.scheduleFlush();
    else if (this.gone.size === 0) this.resetFlush();
  }

  private scheduleFlush(): void {
    const now = Date.now();
    this.firstGoneAt ??= now;
    const window = this.options.renameWindowMs;
    const wait = Math.max(0, Math.min(window, this.firstGoneAt + MAX_HOLD_WINDOWS * window - now));
    clearTimeout(this.flushTimer);
    // Debounced: a folder removal arrives as one event per child; waiting for quiet reports it as one delete.
    this.flushTimer = setTimeout(() => this.enqueue(() => this.flushDue()), wait);
  }

  /**
   * Reports the removals whose window has passed. One whose name is being written again right now waits for
   * that file to settle: if it is a file again, the upload replaces it and no delete is needed at all.
   */
  private flushDue(): void {
    this.resetFlush();
    this.flushGone((p) => !this.stability.has(p));
    if (this.gone.size > 0) this.scheduleFlush();
  }

  private resetFlush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.firstGoneAt = undefined;
  }

  private flushOverlapping(rel: string): void {
    this.flushGone((p) => isSameOrBelow(p, rel) || isSameOrBelow(rel, p));
  }

  /** Reports the selected removals as deletes: only the topmost of a removed subtree. */
  private flushGone(select: (path: string) => boolean): void {
    const paths = this.gone.paths().filter(select);
    const kinds = new Map(paths.map((p) => [p, this.gone.delete(p)?.kind]));
    for (const path of topmost(paths)) {
      const isDir = kinds.get(path) === 'dir';
      if (isDir && this.options.eachFile) {
        // Each file it held: those removed with it, and those whose own removal events have not arrived.
        const files = new Set(paths.filter((p) => kinds.get(p) === 'file' && isSameOrBelow(p, path)));
        for (const [p, was] of this.index.subtree(path)) if (was.kind === 'file') files.add(p);
        for (const file of [...files].sort()) this.options.emit({ action: 'delete', path: file });
      }
      forget(this.index, path, isDir); // children whose own removal events have not arrived
      if (!(isDir && this.options.eachFile)) this.options.emit({ action: 'delete', path });
    }
    if (this.gone.size === 0) this.resetFlush();
  }

  private fail(error: unknown): void {
    this.options.onError?.(error);
  }
}

/** Drops `path` from an index, and everything below it for a folder (a walk over the index: folders only). */
function forget(index: FileIndex, path: string, isDir: boolean): void {
  if (isDir) index.deleteSubtree(path);
  else index.delete(path);
}

/**
 * The paths no other one of the list contains, in tree order. Sorting with `/` below every other character
 * keeps each subtree contiguous (`a`, `a/x`, `a b`), so one pass suffices even for a folder of many files.
 */
export function topmost(paths: readonly string[]): string[] {
  const keyed = paths.map((p) => [p.replaceAll('/', '\u0000'), p] as const);
  keyed.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const out: string[] = [];
  for (const [, path] of keyed) {
    const last = out[out.length - 1];
    if (last === undefined || !isSameOrBelow(path, last)) out.push(path);
  }
  return out;
}
