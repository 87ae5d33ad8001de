import { pathsOverlap } from './paths.js';

/** A prefix's flags in PathMarks: marked exactly, and something marked at or below it. */
const EXACT = 1;
const AT_OR_BELOW = 2;
/** Undo-log keys of PathMarks' two booleans (no path is empty, or has a NUL). */
const ROOT = '';
const ANY = '\0';

/** One change to PathMarks, undone by a rollback: what `key` was before (flags, or 0/1 for ROOT and ANY). */
interface UndoStep {
  key: string;
  before: number;
}

/**
 * A set of paths that answers "does this path overlap any of them?" (same path, ancestor or descendant) in time
 * proportional to the path's depth, not to the number of paths: the replayer asks it once per waiting entry, on
 * every dispatch. Marks are only ever added — and taken back, after a checkpoint, by rolling back to it.
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
  /**
   * Kept from the first checkpoint on: what each change since replaced, to undo it. A prefix's flags before (its
   * absence as 0: no flags), or the two booleans as ROOT / ANY.
   */
  private undo: UndoStep[] | undefined;

  /** A point to roll back to (see rollback): marks added from now on can be taken back. */
  checkpoint(): number {
    this.undo ??= [];
    return this.undo.length;
  }

  /** Takes back every mark added since `point` (a checkpoint()), later checkpoints with them. */
  rollback(point: number): void {
    const undo = this.undo;
    if (!undo || point > undo.length) throw new Error(`no checkpoint ${point} to roll back to`);
    while (undo.length > point) {
      const step = undo.pop()!;
      if (step.key === ROOT) this.rootMarked = step.before !== 0;
      else if (step.key === ANY) this.any = step.before !== 0;
      else if (step.before === 0) this.flags.delete(step.key);
      else this.flags.set(step.key, step.before);
    }
  }

  add(path: string): void {
    this.addPrefixes(pathPrefixes(path));
  }

  /**
   * `add` with the path given as its prefixes (see pathPrefixes). A caller that asks about the same paths again and
   * again (the replayer, on every dispatch) keeps the list: strings that are not built anew keep their hash, so
   * the map operations here cost no string work.
   */
  addPrefixes(prefixes: readonly string[]): void {
    const undo = this.undo;
    if (!this.any) {
      undo?.push({ key: ANY, before: 0 });
      this.any = true;
    }
    const last = prefixes.length - 1;
    const path = prefixes[last]!;
    if (path === '/') {
      if (!this.rootMarked) undo?.push({ key: ROOT, before: 0 });
      this.rootMarked = true;
      return;
    }
    const before = this.flags.get(path) ?? 0;
    if (before !== (EXACT | AT_OR_BELOW)) {
      undo?.push({ key: path, before });
      this.flags.set(path, EXACT | AT_OR_BELOW);
    }
    // Ancestors, deepest first, until one is flagged already (its own ancestors are then flagged too).
    for (let i = last - 1; i >= 0; i--) {
      const prefix = prefixes[i]!;
      const flags = this.flags.get(prefix) ?? 0;
      if (flags & AT_OR_BELOW) break;
      undo?.push({ key: prefix, before: flags });
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

/** A path added to PathOwners: its owner, and its place in the order paths were added. */
interface Owned<T> {
  order: number;
  owner: T;
}

/** Up to this many paths, PathOwners compares with each in turn (cheaper than its maps for a few). */
const FEW_PATHS = 16;

/**
 * Paths with an owner each, answering "which path added first overlaps this one?" (same path, ancestor or
 * descendant). The operator views ask it for every entry behind a stuck one, and a folder delete parked as CONFLICT
 * can hold back a whole busy tree: with a list of stuck paths, a lane of 10,000 entries held back and 10,000 not
 * took 7.5 s per view. Past a few paths, it answers from maps in time proportional to the path's depth. Paths are
 * only ever added.
 */
export class PathOwners<T> {
  private readonly few: { path: string; mark: Owned<T> }[] = [];
  /** The first path added exactly there (once past FEW_PATHS). */
  private readonly exact = new Map<string, Owned<T>>();
  /** The first path added at or below there, `/` included (once past FEW_PATHS). */
  private readonly atOrBelow = new Map<string, Owned<T>>();
  private added = 0;

  get size(): number {
    return this.added;
  }

  add(path: string, owner: T): void {
    const mark = { order: this.added++, owner };
    if (this.added <= FEW_PATHS) {
      this.few.push({ path, mark });
      if (this.added === FEW_PATHS) for (const f of this.few) this.index(f.path, f.mark);
      return;
    }
    this.index(path, mark);
  }

  /** The owner of the first-added path that overlaps any of `paths`, if any. */
  first(paths: readonly string[]): T | undefined {
    if (this.added < FEW_PATHS) {
      return this.few.find((f) => paths.some((path) => pathsOverlap(f.path, path)))?.mark.owner;
    }
    let best = this.exact.get('/'); // the root is an ancestor of every path
    const earlier = (mark: Owned<T> | undefined) => {
      if (mark && (!best || mark.order < best.order)) best = mark;
    };
    for (const path of paths) {
      if (path === '/') {
        earlier(this.atOrBelow.get('/'));
        continue;
      }
      // Ancestors, shallowest first, until one has nothing added at or below it (nor has any deeper prefix).
      for (let cut = path.indexOf('/', 1); ; cut = path.indexOf('/', cut + 1)) {
        const prefix = cut === -1 ? path : path.slice(0, cut);
        const below = this.atOrBelow.get(prefix);
        if (!below) break;
        earlier(this.exact.get(prefix)); // at an ancestor, or the path
        if (cut === -1) {
          earlier(below); // at or below the path
          break;
        }
      }
    }
    return best?.owner;
  }

  private index(path: string, mark: Owned<T>): void {
    if (!this.exact.has(path)) this.exact.set(path, mark);
    const prefixes = pathPrefixes(path);
    // Deepest first, until a prefix holds an earlier path below it: its ancestors then do too.
    for (let i = prefixes.length - 1; i >= 0; i--) {
      if (this.atOrBelow.has(prefixes[i]!)) return;
      this.atOrBelow.set(prefixes[i]!, mark);
    }
    if (!this.atOrBelow.has('/')) this.atOrBelow.set('/', mark);
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
