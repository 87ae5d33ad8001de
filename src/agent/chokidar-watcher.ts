import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
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
 */
export class ChokidarWatcher {
  private readonly knownDirs = new Set<string>();
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
    if (type === 'addDir') {
      this.knownDirs.add(absolute);
      if (this.ready) this.scheduleRescans(absolute);
    } else if (type === 'unlinkDir') {
      this.knownDirs.delete(absolute); // chokidar reports every subfolder of a removed folder on its own
    }
    this.options.onEvent({ type, path: relativePath(this.options.root, absolute), initial: !this.ready });
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
