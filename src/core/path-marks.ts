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
    this.addPrefixes(pathPrefixes(path));
  }

  /**
   * `add` with the path given as its prefixes (see pathPrefixes). A caller that asks about the same paths again and
   * again (the replayer, on every dispatch) keeps the list: strings that are not built anew keep their hash, so
   * the map operations here cost no string work.
   */
  addPrefixes(prefixes: readonly string[]): void {
    const path = prefixes[prefixes.length - 1]!;
    this.exact.set(path, (this.exact.get(path) ?? 0) + 1);
    this.below.set('/', (this.below.get('/') ?? 0) + 1);
    if (path === '/') return;
    for (const prefix of prefixes) this.below.set(prefix, (this.below.get(prefix) ?? 0) + 1);
  }

  /** True when a marked path is `path` itself or lies below it. */
  hasAtOrBelow(path: string): boolean {
    return (this.below.get(path) ?? 0) > 0;
  }

  overlaps(path: string): boolean {
    return this.overlapsPrefixes(pathPrefixes(path));
  }

  /** `overlaps` with the path given as its prefixes (see addPrefixes). */
  overlapsPrefixes(prefixes: readonly string[]): boolean {
    const path = prefixes[prefixes.length - 1]!;
    if ((this.below.get(path) ?? 0) > 0) return true; // marked at or below path
    if (this.exact.has('/')) return true; // marked ancestor: the root
    if (path === '/') return false;
    for (let i = 0; i < prefixes.length - 1; i++) if (this.exact.has(prefixes[i]!)) return true; // marked ancestor
    return false; // the path itself was checked through `below`
  }
}

/**
 * One string object per distinct value, for strings used as keys again and again (the replayer's path prefixes).
 * A map compares two different string objects with the same characters character by character (a slice of a
 * longer string is flattened first), but the same object by its address. Bounded: past `limit` values it starts
 * over, which only costs the comparisons again.
 */
export class StringPool {
  private readonly known = new Map<string, string>();

  constructor(private readonly limit = 10_000) {}

  get size(): number {
    return this.known.size;
  }

  intern(value: string): string {
    const known = this.known.get(value);
    if (known !== undefined) return known;
    if (this.known.size >= this.limit) this.known.clear();
    this.known.set(value, value);
    return value;
  }
}

/** Every ancestor of a path below the root, then the path itself: `/a/b/c` → `/a`, `/a/b`, `/a/b/c`; `/` → `/`. */
export function pathPrefixes(path: string): string[] {
  if (path === '/') return ['/'];
  const prefixes: string[] = [];
  for (let cut = path.indexOf('/', 1); cut !== -1; cut = path.indexOf('/', cut + 1)) prefixes.push(path.slice(0, cut));
  prefixes.push(path);
  return prefixes;
}

/** Reference implementation for tests: the quadratic definition PathMarks must agree with. */
export function overlapsAny(path: string, marked: readonly string[]): boolean {
  return marked.some((m) => pathsOverlap(m, path));
}
