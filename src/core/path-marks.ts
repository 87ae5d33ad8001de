import { pathsOverlap } from './paths.js';

/**
 * A set of paths that answers "does this path overlap any of them?" (same path, ancestor or descendant) in time
 * proportional to the path's depth, not to the number of paths: the replayer asks it once per waiting entry.
 */
export class PathMarks {
  /** Paths marked exactly. */
  private readonly exact = new Map<string, number>();
  /** For every ancestor (and the path itself) of a marked path: how many marked paths lie at or below it. */
  private readonly below = new Map<string, number>();

  add(path: string): void {
    this.exact.set(path, (this.exact.get(path) ?? 0) + 1);
    this.below.set('/', (this.below.get('/') ?? 0) + 1);
    if (path === '/') return;
    // Every ancestor and the path itself (`/a/b/c` → `/a`, `/a/b`, `/a/b/c`), without building a list: the
    // replayer marks the paths of every entry it passes on each scan.
    for (let cut = path.indexOf('/', 1); ; cut = path.indexOf('/', cut + 1)) {
      const prefix = cut === -1 ? path : path.slice(0, cut);
      this.below.set(prefix, (this.below.get(prefix) ?? 0) + 1);
      if (cut === -1) return;
    }
  }

  /** True when a marked path is `path` itself or lies below it. */
  hasAtOrBelow(path: string): boolean {
    return (this.below.get(path) ?? 0) > 0;
  }

  overlaps(path: string): boolean {
    if ((this.below.get(path) ?? 0) > 0) return true; // marked at or below path
    if (this.exact.has('/')) return true; // marked ancestor: the root
    if (path === '/') return false;
    for (let cut = path.indexOf('/', 1); cut !== -1; cut = path.indexOf('/', cut + 1)) {
      if (this.exact.has(path.slice(0, cut))) return true; // marked ancestor
    }
    return false; // the path itself was checked through `below`
  }
}

/** Reference implementation for tests: the quadratic definition PathMarks must agree with. */
export function overlapsAny(path: string, marked: readonly string[]): boolean {
  return marked.some((m) => pathsOverlap(m, path));
}
