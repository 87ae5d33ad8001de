import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { ChokidarWatcher } from './chokidar-watcher.js';
import type { FileStat } from './file-index.js';
import { PerFolderWatcher } from './per-folder-watcher.js';
import type { WatchEvent } from './rename-detector.js';

export interface WatcherOptions {
  /** Absolute path of the folder to watch, recursively. */
  root: string;
  /** Absolute path → true to skip it (and, for a folder, everything below). */
  ignored(absolute: string): boolean;
  onEvent(event: WatchEvent): void;
  onError(error: unknown): void;
  /** The watched folder itself was removed or replaced: nothing more is reported (default: onError). */
  onRootGone?(error: Error): void;
  /** After a new folder appears, list it again after each of these delays (see ChokidarWatcher, PerFolderWatcher). */
  rescanDelaysMs?: readonly number[];
  /**
   * Every this often, every folder is listed again and what it holds compared with what was known (names, kinds,
   * inodes, sizes, modification times): changes whose events were lost are found (PerFolderWatcher; 0: never).
   */
  fullRescanMs?: number;
  /** False where birth times are not real (see birthTimesAreReal): folders are then told apart by inode only. */
  birthTimes?: boolean;
}

/**
 * How the folder is watched: `folders` — one fs.watch (inotify) per folder, see PerFolderWatcher; the default on
 * Linux — or `chokidar`, which watches every file and lists a folder again when something in it changes, and is
 * the default elsewhere (where fs.watch of a folder behaves differently from platform to platform).
 */
export type WatcherKind = 'folders' | 'chokidar';

export const WATCHER_KINDS: readonly WatcherKind[] = ['folders', 'chokidar'];

export function defaultWatcher(): WatcherKind {
  return process.platform === 'linux' ? 'folders' : 'chokidar';
}

/** Starts watching with the given kind of watcher; resolves once the initial listing is complete. */
export async function startWatcher(
  options: WatcherOptions,
  kind: WatcherKind = defaultWatcher(),
): Promise<{ close(): Promise<void> }> {
  return kind === 'folders' ? PerFolderWatcher.start(options) : ChokidarWatcher.start(options);
}

/** lstat of `rel` below `root` as the detector needs it; undefined for missing paths and anything but files/folders. */
export async function statRelative(root: string, rel: string, birthTimes = true): Promise<FileStat | undefined> {
  try {
    // Synchronous: an lstat of a local file costs microseconds, a thread-pool round trip several times that, and
    // a burst of new files means a few of them per file.
    const s = lstatSync(join(root, rel));
    if (!s.isFile() && !s.isDirectory()) return undefined; // symbolic links, sockets, devices: not replicated
    const kind = s.isFile() ? 'file' : 'dir';
    const birthtimeMs = birthTimes ? s.birthtimeMs : 0;
    return { kind, dev: s.dev, ino: s.ino, size: s.size, mtimeMs: s.mtimeMs, birthtimeMs };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw error;
  }
}
