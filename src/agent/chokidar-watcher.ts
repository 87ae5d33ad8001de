import { type Dirent, lstatSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type FSWatcher, watch } from 'chokidar';
import { relativePath } from './paths.js';
import type { WatcherOptions } from './watcher.js';

const EVENTS = ['add', 'change', 'addDir', 'unlink', 'unlinkDir'] as const;
const DEFAULT_RESCAN_DELAYS_MS = [250, 1_500] as const;

/**
 * Watches a folder with chokidar and forwards raw events, paths made relative. Deliberately plain: no
 * awaitWriteFinish and no `atomic` merging, because the rename detector needs both halves of a move as they
 * happen and does its own stability check. Events of the initial listing carry `initial: true`. Symbolic links
 * are not followed.
 *
 * chokidar lists a new folder first and watches it afterwards, so whatever is created inside it in between
 * (`mkdir -p a/b && cp x a/`) is never reported. Each new folder is therefore listed again a little later:
 * files found are reported as `add` (the detector ignores what it already knows), and a subfolder chokidar
 * missed is handed to chokidar to watch (it then reports it and its contents itself).
 *
 * chokidar tells a folder's names apart by name only: a name that comes to hold another object raises no event
 * (a swap through a temporary name, a symbolic link replaced by a file) or the wrong one (a file replaced by a
 * folder: `change`). What each name held is therefore kept (kind, inode, size, modification time): a `change` of a
 * name that is now another kind is reported as its removal and its addition, and every `fullRescanMs` the whole
 * tree is listed and compared with it, as PerFolderWatcher does.
 */
export class ChokidarWatcher {
  private readonly knownDirs = new Set<string>();
  /** What each reported name (absolute path) held when it was last seen. */
  private readonly seen = new Map<string, Seen>();
  /** The names seen in each folder: a folder's removal forgets what it held without a scan of every name. */
  private readonly children = new Map<string, Set<string>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private ready = false;
  private closed = false;

  private constructor(
    private readonly options: WatcherOptions,
    private readonly chokidar: FSWatcher,
  ) {
    this.knownDirs.add(options.root);
  }

  /** Starts watching; resolves once the initial listing is complete. */
  static async start(options: WatcherOptions): Promise<ChokidarWatcher> {
    const chokidar = watch(options.root, {
      persistent: true,
      ignoreInitial: false,
      followSymlinks: false,
      atomic: false,
      awaitWriteFinish: false,
      ignorePermissionErrors: true,
      ignored: (path: string) => options.ignored(path),
    });
    const watcher = new ChokidarWatcher(options, chokidar);
    for (const type of EVENTS) chokidar.on(type, (path: string) => watcher.onChokidar(type, path));
    chokidar.on('error', (error) => options.onError(error));
    await new Promise<void>((resolve) => chokidar.once('ready', () => resolve()));
    watcher.ready = true;
    if (options.fullRescanMs) watcher.scheduleFullRescan(Math.min(options.fullRescanMs, 2 ** 31 - 1));
    return watcher;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await this.chokidar.close();
  }

  private onChokidar(type: (typeof EVENTS)[number], absolute: string): void {
    if (this.closed) return;
    if (type === 'unlink' || type === 'unlinkDir') {
      this.forget(absolute);
    } else {
      const now = lookAt(absolute);
      const was = this.seen.get(absolute);
      if (type === 'change' && now && was && now.kind !== was.kind) {
        // Another kind of object under the name (a file replaced by a folder): chokidar calls it a change.
        this.replaced(absolute, was, now);
        return;
      }
      if (now) this.remember(absolute, now);
    }
    this.forward(type, absolute);
  }

  private forward(type: (typeof EVENTS)[number], absolute: string): void {
    if (type === 'addDir') {
      this.knownDirs.add(absolute);
      if (this.ready) this.scheduleRescans(absolute);
    } else if (type === 'unlinkDir') {
      this.knownDirs.delete(absolute); // chokidar reports every subfolder of a removed folder on its own
    }
    this.options.onEvent({ type, path: relativePath(this.options.root, absolute), initial: !this.ready });
  }

  /** `absolute` holds another kind of object than it did: the old one is reported removed, the new one added. */
  private replaced(absolute: string, was: Seen, now: Seen): void {
    this.removed(absolute, was);
    this.remember(absolute, now);
    if (now.kind === 'dir') this.addedDir(absolute);
    else {
      this.forward('add', absolute);
    }
  }

  /** A folder chokidar did not report: reported, and handed to chokidar, which reports what it holds from now on. */
  private addedDir(absolute: string): void {
    const watched = this.knownDirs.has(absolute); // watching a folder twice doubles its events
    this.forward('addDir', absolute);
    if (!watched) this.chokidar.add(absolute);
  }

  /** Reports `absolute` removed (a folder: what was seen below it first, deepest first) and forgets it. */
  private removed(absolute: string, was: Seen): void {
    if (was.kind === 'dir') {
      const below = this.below(absolute).sort().reverse(); // deepest first, as chokidar reports a removed folder
      for (const path of below) this.forward(this.seen.get(path)!.kind === 'dir' ? 'unlinkDir' : 'unlink', path);
    }
    this.forget(absolute);
    this.forward(was.kind === 'dir' ? 'unlinkDir' : 'unlink', absolute);
  }

  private remember(absolute: string, now: Seen): void {
    this.seen.set(absolute, now);
    const parent = dirname(absolute);
    let names = this.children.get(parent);
    if (!names) {
      names = new Set();
      this.children.set(parent, names);
    }
    names.add(absolute);
  }

  /** Forgets `absolute` and, for a folder, everything seen below it. */
  private forget(absolute: string): void {
    const below = this.below(absolute);
    this.seen.delete(absolute);
    this.children.get(dirname(absolute))?.delete(absolute);
    for (const path of below) this.seen.delete(path);
    for (const path of [absolute, ...below]) this.children.delete(path);
  }

  /** Every name seen below the folder `absolute`. */
  private below(absolute: string): string[] {
    const out: string[] = [];
    const folders = [absolute];
    while (folders.length > 0) {
      for (const path of this.children.get(folders.pop()!) ?? []) {
        out.push(path);
        folders.push(path);
      }
    }
    return out;
  }

  /**
   * Lists the whole tree again every `everyMs` and compares each name with what it held when last seen: a name
   * gone, new, of another kind, or (a file) another file or other contents is reported as such. Finds what
   * chokidar cannot see (a swap through a temporary name, a symbolic link replaced by a file) and events lost.
   */
  private scheduleFullRescan(everyMs: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.fullRescan()
        .catch((error: unknown) => this.options.onError(error))
        .finally(() => {
          if (!this.closed) this.scheduleFullRescan(everyMs);
        });
    }, everyMs);
    timer.unref();
    this.timers.add(timer);
  }

  private async fullRescan(): Promise<void> {
    const present = new Set<string>([this.options.root]); // the root itself: gone, it is onRootGone's to say
    const folders = [this.options.root];
    while (folders.length > 0 && !this.closed) {
      const dir = folders.pop()!;
      let entries: Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') continue; // removed meanwhile: its parent's listing says so
        // Not listed (too many open files, no permission, an I/O error): nothing below it may be taken for
        // removed, so this round reports no removal at all.
        this.options.onError(error);
        return;
      }
      for (const entry of entries) {
        if (this.closed) return;
        const absolute = join(dir, entry.name);
        if (this.options.ignored(absolute)) continue;
        const now = lookAt(absolute);
        if (!now) continue; // a symbolic link, socket or device: not replicated
        present.add(absolute);
        const was = this.seen.get(absolute);
        if (now.kind === 'dir') folders.push(absolute);
        if (!was) {
          this.remember(absolute, now);
          if (now.kind === 'dir') this.addedDir(absolute);
          else this.forward('add', absolute);
        } else if (was.kind !== now.kind || (now.kind === 'dir' && was.ino !== now.ino)) {
          this.replaced(absolute, was, now);
        } else if (now.kind === 'file' && !sameFile(was, now)) {
          // Another file under the name, or other contents: the rename detector tells which by the inode.
          this.remember(absolute, now);
          this.forward('change', absolute);
        }
      }
    }
    if (this.closed) return;
    const gone = [...this.seen.keys()]
      .filter((p) => !present.has(p))
      .sort()
      .reverse(); // deepest first
    for (const path of gone) {
      const was = this.seen.get(path);
      // Looked at once more: made while the rescan listed other folders (its event came meanwhile), or not to be
      // read now, it is not removed.
      if (was && !stillThere(path)) this.removed(path, was);
    }
  }

  private scheduleRescans(dir: string): void {
    const delays = this.options.rescanDelaysMs ?? DEFAULT_RESCAN_DELAYS_MS;
    delays.forEach((delay, i) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.rescan(dir, i === delays.length - 1).catch((error: unknown) => this.options.onError(error));
      }, delay);
      this.timers.add(timer);
    });
  }

  /**
   * Reports the files of `dir` again. Subfolders chokidar has not reported are handed to it only in the last
   * round: in a large new tree chokidar may simply not have reached them yet, and watching a folder twice
   * doubles its events.
   */
  private async rescan(dir: string, last: boolean): Promise<void> {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return; // removed or moved meanwhile: its own events say so
    }
    for (const entry of entries) {
      if (this.closed) return;
      const absolute = join(dir, entry.name);
      if (this.options.ignored(absolute)) continue;
      if (entry.isDirectory()) {
        // chokidar then reports the folder and its contents, and watches it from now on.
        if (last && !this.knownDirs.has(absolute)) this.chokidar.add(absolute);
      } else if (entry.isFile()) {
        this.options.onEvent({ type: 'add', path: relativePath(this.options.root, absolute) });
      }
    }
  }
}

/** What a name held when it was last seen. */
interface Seen {
  kind: 'file' | 'dir';
  ino: number;
  size: number;
  mtimeMs: number;
}

function lookAt(absolute: string): Seen | undefined {
  try {
    const s = lstatSync(absolute, { throwIfNoEntry: false });
    if (s?.isFile()) return { kind: 'file', ino: s.ino, size: s.size, mtimeMs: s.mtimeMs };
    if (s?.isDirectory()) return { kind: 'dir', ino: s.ino, size: 0, mtimeMs: 0 };
    return undefined; // gone, or a symbolic link, socket or device
  } catch {
    return undefined;
  }
}

/** Whether a file or folder is at `absolute` (or whether that cannot be told: taken for yes). */
function stillThere(absolute: string): boolean {
  try {
    const s = lstatSync(absolute, { throwIfNoEntry: false });
    return s !== undefined && (s.isFile() || s.isDirectory());
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code !== 'ENOENT' && code !== 'ENOTDIR';
  }
}

function sameFile(a: Seen, b: Seen): boolean {
  return a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}
