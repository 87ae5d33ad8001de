/** What the agent remembers of a path: enough to recognise the same file or folder under another name. */
export interface FileStat {
  kind: 'file' | 'dir';
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  /** Creation time where the file system records it (ext4, xfs, btrfs); 0 or absent where it does not. */
  birthtimeMs?: number;
}

/**
 * Same inode on the same device, same kind, and — where both birth times are known — born at the same moment:
 * ext4 hands a removed folder's inode to the next folder created (at once, measured), and a folder's mtime says
 * nothing, so without the birth time `rmdir a; mkdir b` would look like a move of `a`.
 */
export function sameIdentity(a: FileStat, b: FileStat): boolean {
  if (a.kind !== b.kind || a.dev !== b.dev || a.ino !== b.ino) return false;
  return !a.birthtimeMs || !b.birthtimeMs || a.birthtimeMs === b.birthtimeMs;
}

/**
 * The same file, unchanged: identity, size and modification time. Size and mtime guard against inode reuse (a
 * deleted file's inode handed to a new file a moment later) being mistaken for a move. A folder's mtime changes
 * whenever its entries do, so folders compare by identity only.
 */
export function sameContent(a: FileStat, b: FileStat): boolean {
  if (!sameIdentity(a, b)) return false;
  return a.kind === 'dir' || (a.size === b.size && a.mtimeMs === b.mtimeMs);
}

/** True when `path` is `base` or lies below it (relative paths, '' is the root). */
export function isSameOrBelow(path: string, base: string): boolean {
  return base === '' || path === base || path.startsWith(`${base}/`);
}

/** Relative path → FileStat, with a reverse lookup by inode: the memory the rename detection works from. */
export class FileIndex {
  private readonly byPath = new Map<string, FileStat>();
  private readonly byIdentity = new Map<string, Set<string>>();
  /** Told of every path set (with its stat) or dropped (undefined), as it happens: see index-log.ts. */
  observer: ((path: string, stat: FileStat | undefined) => void) | undefined;

  get size(): number {
    return this.byPath.size;
  }

  get(path: string): FileStat | undefined {
    return this.byPath.get(path);
  }

  has(path: string): boolean {
    return this.byPath.has(path);
  }

  set(path: string, stat: FileStat): void {
    this.drop(path);
    this.byPath.set(path, stat);
    const key = identityKey(stat);
    let paths = this.byIdentity.get(key);
    if (!paths) {
      paths = new Set();
      this.byIdentity.set(key, paths);
    }
    paths.add(path);
    this.observer?.(path, stat);
  }

  delete(path: string): FileStat | undefined {
    const stat = this.drop(path);
    if (stat) this.observer?.(path, undefined);
    return stat;
  }

  /** delete without telling the observer (a set that replaces the path tells it once). */
  private drop(path: string): FileStat | undefined {
    const stat = this.byPath.get(path);
    if (!stat) return undefined;
    this.byPath.delete(path);
    const key = identityKey(stat);
    const paths = this.byIdentity.get(key);
    paths?.delete(path);
    if (paths?.size === 0) this.byIdentity.delete(key);
    return stat;
  }

  /** Every path holding this inode (hard links give several). */
  pathsOf(stat: FileStat): string[] {
    return [...(this.byIdentity.get(identityKey(stat)) ?? [])];
  }

  /** `path` and everything below it, parents before children. */
  subtree(path: string): [string, FileStat][] {
    return [...this.byPath].filter(([p]) => isSameOrBelow(p, path)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  deleteSubtree(path: string): void {
    for (const [p] of this.subtree(path)) this.delete(p);
  }

  paths(): string[] {
    return [...this.byPath.keys()];
  }

  entries(): IterableIterator<[string, FileStat]> {
    return this.byPath.entries();
  }
}

function identityKey(stat: FileStat): string {
  return `${stat.kind}:${stat.dev}:${stat.ino}`;
}
