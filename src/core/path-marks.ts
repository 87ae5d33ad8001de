import { pathsOverlap } from './paths.js';

/** A prefix's flags in PathMarks: marked exactly, and something marked at or below it. */
const EXACT = 1;
const AT_OR_BELOW = 2;

/**
 * A set of paths that answers "does this path overlap any of them?" (same path, ancestor or descendant) in time
 * proportional to the path's depth, not to the number of paths: the replayer asks it once per waiting entry, on
 * every dispatch. Marks are only ever added.
 *
 * One map holds flags per path and ancestor. When a prefix has AT_OR_BELOW, so have all of its ancestors (they
 * are flagged together), which lets both operations stop early: marking a path whose folder is already flagged
 * costs two map lookups, and a path whose top folder holds no marks is answered with one.
 */
export class PathMarks {
  private readonly flags = new Map<string, number>();
  /** `/` itself is marked: everything overlaps. */
  private rootMarked = false;
  /** Something is marked (at or below `/`). */
  private any = false;

  add(path: string): void {
    this.addPrefixes(pathPrefixes(path));
  }

  /**
   * `add` with the path given as its prefixes (see pathPrefixes). A caller that asks about the same paths again and
   * again (the replayer, on every dispatch) keeps the list: strings that are not built anew keep their hash, so
   * the map operations here cost no string work.
   */
  addPrefixes(prefixes: readonly string[]): void {
    this.any = true;
    const last = prefixes.length - 1;
    const path = prefixes[last]!;
    if (path === '/') {
      this.rootMarked = true;
      return;
    }
    this.flags.set(path, (this.flags.get(path) ?? 0) | EXACT | AT_OR_BELOW);
    // Ancestors, deepest first, until one is flagged already (its own ancestors are then flagged too).
    for (let i = last - 1; i >= 0; i--) {
      const prefix = prefixes[i]!;
      const flags = this.flags.get(prefix) ?? 0;
      if (flags & AT_OR_BELOW) break;
      this.flags.set(prefix, flags | AT_OR_BELOW);
    }
  }

  /** True when a marked path is `path` itself or lies below it. */
  hasAtOrBelow(path: string): boolean {
    if (path === '/') return this.any;
    return ((this.flags.get(path) ?? 0) & AT_OR_BELOW) !== 0;
  }

  overlaps(path: string): boolean {
    return this.overlapsPrefixes(pathPrefixes(path));
  }

  /** `overlaps` with the path given as its prefixes (see addPrefixes). */
  overlapsPrefixes(prefixes: readonly string[]): boolean {
    if (this.rootMarked) return true; // a marked ancestor: the root
    const last = prefixes.length - 1;
    if (prefixes[last] === '/') return this.any;
    for (let i = 0; i < last; i++) {
      const flags = this.flags.get(prefixes[i]!) ?? 0;
      if (flags & EXACT) return true; // a marked ancestor
      if (!(flags & AT_OR_BELOW)) return false; // nothing marked below this ancestor, so none deeper either
    }
    return ((this.flags.get(prefixes[last]!) ?? 0) & AT_OR_BELOW) !== 0; // marked at or below the path
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
