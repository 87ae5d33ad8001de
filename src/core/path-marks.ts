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
    for (const prefix of prefixes(path)) this.below.set(prefix, (this.below.get(prefix) ?? 0) + 1);
  }

  overlaps(path: string): boolean {
    if ((this.below.get(path) ?? 0) > 0) return true; // marked at or below path
    for (const prefix of prefixes(path)) if (this.exact.has(prefix)) return true; // marked ancestor
    return false;
  }
}

/** `/a/b/c` → `/`, `/a`, `/a/b`, `/a/b/c`. */
function* prefixes(path: string): Generator<string> {
  yield '/';
  if (path === '/') return;
  let cut = path.indexOf('/', 1);
  while (cut !== -1) {
    yield path.slice(0, cut);
    cut = path.indexOf('/', cut + 1);
  }
  yield path;
}

/** Reference implementation for tests: the quadratic definition PathMarks must agree with. */
export function overlapsAny(path: string, marked: readonly string[]): boolean {
  return marked.some((m) => pathsOverlap(m, path));
}
