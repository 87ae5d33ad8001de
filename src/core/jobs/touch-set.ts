import type { Action } from '../entry.js';
import { PathMarks } from '../path-marks.js';
import { parentOf } from '../paths.js';

/**
 * How far a live change reaches. `tree`: the path and everything below it may have changed (upload, delete,
 * rename: a file replaces a folder, a folder goes away or arrives). `node`: only the path itself (makedir,
 * mdtm): a folder made or re-dated leaves its contents and its parents as they were.
 */
export type TouchKind = 'tree' | 'node';

export function touchKind(action: Action): TouchKind {
  return action === 'makedir' || action === 'mdtm' ? 'node' : 'tree';
}

/** One live change's paths, as the intake reports them to running jobs. */
export interface Touch {
  path: string;
  kind: TouchKind;
}

export function touchesOf(change: { action: Action; path: string; target?: string }): Touch[] {
  const kind = touchKind(change.action);
  return change.target
    ? [
        { path: change.path, kind },
        { path: change.target, kind },
      ]
    : [{ path: change.path, kind }];
}

/** Distinct paths remembered before the set coarsens (about 100 bytes each). */
export const MAX_TOUCHED_PATHS = 100_000;

/**
 * The paths live changes touched since a job started. A job write at path P is left out when it could undo one
 * of them: a `tree` touch at P, above P or below P, or a `node` touch at P or below P.
 *
 * Bounded: beyond `max` distinct paths, every path is replaced by a `tree` touch of its parent (repeatedly, until
 * at most half the bound is left). That only ever covers more paths, never fewer: the job leaves more alone, and
 * a later verify shows what it left.
 */
export class TouchSet {
  private readonly paths = new Map<string, TouchKind>();
  private tree = new PathMarks();
  private node = new PathMarks();

  constructor(private readonly max = MAX_TOUCHED_PATHS) {}

  get size(): number {
    return this.paths.size;
  }

  add(touch: Touch): void {
    const known = this.paths.get(touch.path);
    if (known === 'tree' || known === touch.kind) return;
    this.paths.set(touch.path, touch.kind);
    (touch.kind === 'tree' ? this.tree : this.node).add(touch.path);
    if (this.paths.size > this.max) this.coarsen();
  }

  /** True when a job write at `path` could undo a recorded live change. */
  touches(path: string): boolean {
    return this.tree.overlaps(path) || this.node.hasAtOrBelow(path);
  }

  entries(): IterableIterator<[string, TouchKind]> {
    return this.paths.entries();
  }

  private coarsen(): void {
    // The deepest paths first, one level at a time: paths already coarse stay as they are.
    let current = new Map(this.paths);
    while (current.size > this.max / 2) {
      let deepest = 0;
      for (const path of current.keys()) deepest = Math.max(deepest, depth(path));
      if (deepest === 0) break;
      const next = new Map<string, TouchKind>();
      for (const [path, kind] of current) {
        if (depth(path) === deepest) next.set(parentOf(path), 'tree');
        else if (next.get(path) !== 'tree') next.set(path, kind);
      }
      current = next;
    }
    this.paths.clear();
    this.tree = new PathMarks();
    this.node = new PathMarks();
    for (const [path, kind] of current) {
      this.paths.set(path, kind);
      (kind === 'tree' ? this.tree : this.node).add(path);
    }
  }
}

function depth(path: string): number {
  if (path === '/') return 0;
  let n = 0;
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 47) n += 1;
  return n;
}
