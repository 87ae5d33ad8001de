import { type Dirent, type FSWatcher, lstatSync, readdirSync, watch } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { relativePath } from './paths.js';
import type { WatchEvent } from './rename-detector.js';
import type { WatcherOptions } from './watcher.js';

type Kind = 'file' | 'dir';

/**
 * What a name was known as: a file or a folder, and which one. The inode alone does not tell a folder removed and
 * made again from the old one (ext4 hands the freed inode straight back); with its birth time it does.
 */
interface Known {
  kind: Kind;
  ino: bigint;
  born: bigint;
  /** The file system it is on. */
  dev: bigint;
  /** A file's size and modification time (ns): a listing tells a file rewritten in place, or renamed over. */
  size: bigint;
  mtime: bigint;
}

interface WatchedDir {
  /** Absent once the folder could not be watched (gone, or no permission): its parent's events still cover it. */
  handle: FSWatcher | undefined;
  children: Map<string, Known>;
}

/** `change` events of one file are passed on at most this often (a large file being written sends thousands). */
const CHANGE_INTERVAL_MS = 100;
const DEFAULT_RESCAN_DELAYS_MS = [250, 1_500] as const;
/**
 * A folder that had events is listed again this long after the first of them (once per period, however many
 * came): inotify drops events silently when its queue overflows (`fs.inotify.max_queued_events`), and the
 * listing finds what they would have said. Per RELIST_NAMES names the folder holds the wait grows by as much, so
 * a busy folder of 100,000 files costs a listing every 40 s, not every 2.
 */
const RELIST_MS = 2_000;
/** Names looked at per turn of the event loop in a full rescan (see scheduleFullRescan): a folder is never split. */
const FULL_RESCAN_NAMES = 2_000;
const RELIST_NAMES = 5_000;

/**
 * Watches a tree with one `fs.watch` (inotify) per folder — not per file — and keeps what each folder holds, so an
 * event is one lstat of the name it carries. Reports the same events as chokidar (`add`, `change`, `addDir`,
 * `unlink`, `unlinkDir`; a removed folder's contents first, deepest first, then the folder).
 *
 * A new folder is watched, then listed, and listed again a little later (`rescanDelaysMs`): what was created in
 * it before its watch existed (`mkdir -p a/b && cp x a/b/`) is found there. A folder with events is listed again
 * (both ways: new names and vanished ones) at most every RELIST_MS. Symbolic links, sockets and devices are not
 * reported. Events are handled once per turn of the event loop, one lstat per name however many events it got.
 * If the watched folder itself is removed or replaced, `onRootGone` hears of it and nothing more is reported.
 */
export class PerFolderWatcher {
  private readonly dirs = new Map<string, WatchedDir>();
  private readonly pending = new Map<string, Set<string>>();
  /** Names that are not UTF-8, told about once each (see list). */
  private readonly undecodable = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly relisting = new Set<string>();
  /** Files with a `change` held back (see CHANGE_INTERVAL_MS): whether another one came meanwhile. */
  private readonly changing = new Map<string, { again: boolean; timer: NodeJS.Timeout }>();
  private root: Known | undefined;
  private scheduled = false;
  private ready = false;
  private closed = false;

  private constructor(private readonly options: WatcherOptions) {}

  /** Starts watching; resolves once the initial listing is complete (its events carry `initial: true`). */
  static async start(options: WatcherOptions): Promise<PerFolderWatcher> {
    const watcher = new PerFolderWatcher(options);
    watcher.root = lookAt(options.root, options.birthTimes);
    watcher.addDir(options.root, false);
    watcher.ready = true;
    // A timer's delay is at most 2^31 - 1 ms: Node takes a longer one for 1 ms (a rescan without pause).
    if (options.fullRescanMs) watcher.scheduleFullRescan(Math.min(options.fullRescanMs, 2 ** 31 - 1));
    return watcher;
  }

  /**
   * Lists every folder again and compares each name with what was known (list, deep), about FULL_RESCAN_NAMES
   * names per turn of the event loop, then waits `everyMs` for the next round: inotify's queue
   * (`fs.inotify.max_queued_events`) overflows under a burst of events while the agent is busy, and Node drops the
   * overflow notice, so changes whose events were lost would otherwise stay unseen until a restart.
   */
  private scheduleFullRescan(everyMs: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      const folders = [...this.dirs.keys()];
      const step = (from: number): void => {
        if (this.closed) return;
        if (from === 0 && this.rootGone()) return;
        let at = from;
        for (let names = 0; at < folders.length && names < FULL_RESCAN_NAMES; at++) {
          if (this.dirs.has(folders[at]!)) names += 1 + this.list(folders[at]!, true);
        }
        if (at < folders.length) setImmediate(() => step(at));
        else this.scheduleFullRescan(everyMs);
      };
      step(0);
    }, everyMs);
    timer.unref();
    this.timers.add(timer);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const { timer } of this.changing.values()) clearTimeout(timer);
    this.changing.clear();
    for (const dir of this.dirs.values()) dir.handle?.close();
    this.dirs.clear();
  }

  /** Watches `dir`, then lists it: reports (unless it is the root) the folder, then what it holds, recursively. */
  private addDir(dir: string, report: boolean): void {
    if (this.dirs.has(dir)) return;
    const watched: WatchedDir = { handle: undefined, children: new Map() };
    this.dirs.set(dir, watched);
    if (report) this.emit('addDir', dir);
    try {
      watched.handle = watch(dir, { persistent: true }, (_event, name) => this.onEvent(dir, name));
      watched.handle.on('error', () => this.unwatch(dir)); // removed under us: its parent reports it
    } catch (error) {
      if (dir === this.options.root) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      // Gone again: the parent's events report it. Anything else (ENOSPC: out of inotify watches; EACCES) means
      // changes in this folder go unseen: say so.
      if (code !== 'ENOENT' && code !== 'ENOTDIR') {
        this.options.onError(new Error(`cannot watch ${dir} (${code ?? String(error)}); changes in it are not seen`));
      }
    }
    this.list(dir);
    if (this.ready && report) this.scheduleRescans(dir);
  }

  /**
   * Reconciles what `dir` holds now with what it was known to hold: new names, vanished ones, changed kinds, and,
   * `deep` (the full rescan), another file or other contents under a known name. Returns how many names it held.
   */
  private list(dir: string, deep = false): number {
    const watched = this.dirs.get(dir);
    if (!watched) return 0;
    if (dir !== this.options.root) {
      // The folder itself is not the one its parent knows (another file system there now, say): the parent decides
      // what that means, not a listing that would take everything the old one held for removed.
      const parent = this.dirs.get(dirname(dir))?.children.get(basename(dir));
      const self = lookAt(dir, this.options.birthTimes);
      if (parent && self && (self.dev !== parent.dev || self.ino !== parent.ino)) {
        this.reconcile(dirname(dir), basename(dir));
        return 0;
      }
    }
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return 0; // gone meanwhile: its own removal is reported by its parent
    }
    const present = new Set<string>();
    for (const entry of entries) {
      if (this.closed) return entries.length;
      if (entry.name.includes('\uFFFD') && this.notUtf8(dir, entry.name)) continue;
      present.add(entry.name);
      const known = watched.children.get(entry.name);
      const kind = entry.isFile() ? 'file' : entry.isDirectory() ? 'dir' : undefined;
      // Same name, same kind: still another file (renamed over it) or other contents (rewritten in place) when the
      // events that said so were lost (an inotify queue that overflowed drops them without a word). An lstat per
      // name: the full rescan's work only (a relist of a busy folder of 100,000 names would block 4-6 times longer).
      if (
        known?.kind !== kind ||
        (deep && known && !same(known, lookAt(join(dir, entry.name), this.options.birthTimes)))
      ) {
        this.reconcile(dir, entry.name);
      }
    }
    for (const name of [...watched.children.keys()]) {
      if (!present.has(name)) this.reconcile(dir, name);
    }
    return entries.length;
  }

  /**
   * A name that is not UTF-8 (Latin-1 from an FTP client, say) reads with U+FFFD in place of the bad bytes, and no
   * file has that name: it cannot be sent (paths are UTF-8 everywhere else). Said once per name, instead of nothing.
   */
  private notUtf8(dir: string, name: string): boolean {
    const path = join(dir, name);
    try {
      lstatSync(path);
      return false; // a real U+FFFD in a valid name
    } catch {
      if (!this.undecodable.has(path)) {
        this.undecodable.add(path);
        this.options.onError(
          new Error(`${path}: the name is not valid UTF-8, so it cannot be replicated (nor anything in it): rename it`),
        );
      }
      return true;
    }
  }

  private onEvent(dir: string, name: string | Buffer | null): void {
    if (this.closed) return;
    this.scheduleRelist(dir);
    if (name === null) {
      this.list(dir); // the platform could not say what changed
      return;
    }
    const names = this.pending.get(dir) ?? new Set<string>();
    names.add(String(name));
    this.pending.set(dir, names);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const pending = [...this.pending];
    this.pending.clear();
    for (const [dir, names] of pending) {
      // A folder's own events carry its own name: for the root, check that it is still the folder we watch.
      if (dir === this.options.root && names.has(basename(dir)) && this.rootGone()) return;
      for (const name of names) {
        if (this.closed) return;
        if (this.dirs.has(dir)) this.reconcile(dir, name);
      }
    }
  }

  /** True (and reported, and watching stopped) when the watched folder was removed or replaced. */
  private rootGone(): boolean {
    const now = lookAt(this.options.root, this.options.birthTimes);
    if (now?.kind === 'dir' && this.root && now.ino === this.root.ino && now.born === this.root.born) return false;
    const error = new Error(
      `the watched folder ${this.options.root} was removed, moved or replaced: nothing in it is seen any more`,
    );
    void this.close();
    (this.options.onRootGone ?? this.options.onError)(error);
    return true;
  }

  /** Compares what is at `dir/name` with what was known there and reports the difference. */
  private reconcile(dir: string, name: string): void {
    const path = join(dir, name);
    if (this.options.ignored(path)) return;
    const watched = this.dirs.get(dir);
    if (!watched) return;
    const known = watched.children.get(name);
    const now = lookAt(path, this.options.birthTimes);
    // Gone, another kind, or another folder under the same name: the old one is reported removed first. (A file
    // replaced by another file is a change: the rename detector tells a move from new contents by the inode.)
    const replaced = known?.kind === 'dir' && (now?.kind !== 'dir' || now.ino !== known.ino || now.born !== known.born);
    if (replaced && now?.kind === 'dir' && now.dev !== known.dev) {
      // Another file system at this name: a volume unmounted (its empty mount point shows) or mounted over the
      // folder. Not a removal of what the old one held: deleting all of it on the peers would be the one mistake
      // nothing undoes. Forgotten here; what the folder holds now is listed as new.
      this.removeChild(dir, name, false);
      this.options.onError(
        new Error(
          `${path}: another file system is there now (one was unmounted or mounted): what it held is not reported removed`,
        ),
      );
    } else if (known && (now?.kind !== known.kind || replaced)) this.removeChild(dir, name);
    if (now === undefined) return;
    const before = watched.children.get(name);
    watched.children.set(name, now);
    if (now.kind === 'dir') {
      if (!before) this.addDir(path, true); // otherwise its own watch reports what happens inside
    } else if (before) {
      this.changed(path);
    } else {
      this.emit('add', path);
    }
  }

  /** A `change` now, and at most one more per CHANGE_INTERVAL_MS while the file keeps changing. */
  private changed(path: string): void {
    const held = this.changing.get(path);
    if (held) {
      held.again = true;
      return;
    }
    this.emit('change', path);
    const timer = setTimeout(() => {
      const state = this.changing.get(path);
      this.changing.delete(path);
      if (state?.again && !this.closed) this.changed(path);
    }, CHANGE_INTERVAL_MS);
    this.changing.set(path, { again: false, timer });
  }

  /**
   * Forgets `dir/name`, reporting its removal (unless `report` is false): for a folder, everything known below it
   * first, deepest first.
   */
  private removeChild(dir: string, name: string, report = true): void {
    const watched = this.dirs.get(dir);
    const kind = watched?.children.get(name)?.kind;
    if (!watched || !kind) return;
    watched.children.delete(name);
    const path = join(dir, name);
    if (kind === 'dir') {
      const below = this.dirs.get(path);
      for (const child of [...(below?.children.keys() ?? [])]) this.removeChild(path, child, report);
      this.unwatch(path);
      if (report) this.emit('unlinkDir', path);
    } else {
      const held = this.changing.get(path);
      if (held) clearTimeout(held.timer);
      this.changing.delete(path);
      if (report) this.emit('unlink', path);
    }
  }

  private unwatch(dir: string): void {
    const watched = this.dirs.get(dir);
    if (!watched || dir === this.options.root) return;
    watched.handle?.close();
    watched.handle = undefined;
    if (watched.children.size === 0) this.dirs.delete(dir);
  }

  private scheduleRelist(dir: string): void {
    if (this.relisting.has(dir)) return;
    this.relisting.add(dir);
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        this.relisting.delete(dir);
        if (this.closed || !this.dirs.has(dir)) return;
        if (dir === this.options.root && this.rootGone()) return;
        this.list(dir);
      },
      RELIST_MS * Math.max(1, Math.ceil((this.dirs.get(dir)?.children.size ?? 0) / RELIST_NAMES)),
    );
    this.timers.add(timer);
  }

  private scheduleRescans(dir: string): void {
    const delays = this.options.rescanDelaysMs ?? DEFAULT_RESCAN_DELAYS_MS;
    for (const delay of delays) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (!this.closed && this.dirs.has(dir)) this.list(dir);
      }, delay);
      this.timers.add(timer);
    }
  }

  private emit(type: WatchEvent['type'], absolute: string): void {
    if (this.closed) return;
    const event: WatchEvent = { type, path: relativePath(this.options.root, absolute) };
    if (!this.ready) event.initial = true;
    try {
      this.options.onEvent(event);
    } catch (error) {
      this.options.onError(error);
    }
  }
}

/** The same file or folder as when it was known, unchanged (a folder's size and mtime say nothing: not compared). */
function same(known: Known, now: Known | undefined): boolean {
  if (now?.kind !== known.kind || now.ino !== known.ino || now.dev !== known.dev || now.born !== known.born) {
    return false;
  }
  return known.kind === 'dir' || (now.size === known.size && now.mtime === known.mtime);
}

function lookAt(path: string, birthTimes = true): Known | undefined {
  try {
    const s = lstatSync(path, { bigint: true, throwIfNoEntry: false });
    const born = birthTimes ? (s?.birthtimeNs ?? 0n) : 0n;
    if (s?.isFile()) return { kind: 'file', ino: s.ino, born, dev: s.dev, size: s.size, mtime: s.mtimeNs };
    if (s?.isDirectory()) return { kind: 'dir', ino: s.ino, born, dev: s.dev, size: 0n, mtime: 0n };
    return undefined; // gone, or a symbolic link, socket or device
  } catch {
    return undefined; // no longer reachable (ENOTDIR): not there either
  }
}
