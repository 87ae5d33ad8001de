import { createHash } from 'node:crypto';
import { seeded } from '../bench/stats.js';

/** A change as the test posts it, with the body for uploads. */
export interface ScriptChange {
  action: 'upload' | 'makedir' | 'delete' | 'rename' | 'mdtm';
  path: string;
  target?: string;
  body?: Buffer;
  modified?: string;
}

/**
 * What the secondary's tree must look like after a script: relative path → sha256 (files) or 'dir'. Applies
 * changes with WebDAV semantics: uploads and makedirs create missing parents, rename moves a subtree over
 * whatever is at the target, delete removes a subtree.
 */
export class TreeModel {
  readonly nodes = new Map<string, string>();

  apply(change: ScriptChange): void {
    const rel = change.path.replace(/^\//, '');
    switch (change.action) {
      case 'upload':
        this.makeParents(rel);
        this.removeSubtree(rel);
        this.nodes.set(rel, sha256(change.body!));
        return;
      case 'makedir':
        this.makeParents(rel);
        if (!this.nodes.has(rel)) this.nodes.set(rel, 'dir');
        return;
      case 'delete':
        this.removeSubtree(rel);
        return;
      case 'rename': {
        const to = change.target!.replace(/^\//, '');
        const moved = [...this.nodes].filter(([p]) => p === rel || p.startsWith(`${rel}/`));
        this.removeSubtree(to);
        this.makeParents(to);
        for (const [p] of moved) this.nodes.delete(p);
        for (const [p, v] of moved) this.nodes.set(to + p.slice(rel.length), v);
        return;
      }
      case 'mdtm':
        return;
    }
  }

  sorted(): Map<string, string> {
    return new Map([...this.nodes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  files(): string[] {
    return [...this.nodes].filter(([, v]) => v !== 'dir').map(([p]) => p);
  }

  dirs(): string[] {
    return [...this.nodes].filter(([, v]) => v === 'dir').map(([p]) => p);
  }

  private makeParents(rel: string): void {
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!this.nodes.has(dir)) this.nodes.set(dir, 'dir');
    }
  }

  private removeSubtree(rel: string): void {
    for (const p of [...this.nodes.keys()]) if (p === rel || p.startsWith(`${rel}/`)) this.nodes.delete(p);
  }
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

const NAMES = ['report', 'a b c', 'ünïcødé', '日本語', 'hash#tag', 'per%cent', 'semi;colon', "it's", 'plus+sign', 'x'];

export interface ScriptOptions {
  seed: number;
  count: number;
  /** Everything lives below this folder. */
  base: string;
  /** Largest upload in bytes (a few uploads are this big). */
  maxBytes?: number;
  /**
   * The script starts with a makedir of `base` (default). Set false when `base` is a replicated location itself:
   * the relay refuses to create one (400 LOCATION_ROOT), and the first change inside creates it on the peer.
   */
  makeBase?: boolean;
}

/**
 * A reproducible mixed script: nested makedirs, uploads from 0 B to `maxBytes` (names with spaces and unicode),
 * overwrites, renames of files and whole folders, deletes and mdtm — each valid against the model at its point
 * in the script, so that the replayed tree must equal the model exactly.
 */
export function mixedScript(options: ScriptOptions): { changes: ScriptChange[]; model: TreeModel } {
  const random = seeded(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const model = new TreeModel();
  const changes: ScriptChange[] = [];
  const baseRel = options.base.replace(/^\//, '');
  let serial = 0;
  const fresh = () => `${pick(NAMES)} ${serial++}`;
  const folders = () => [baseRel, ...model.dirs().filter((d) => d.startsWith(`${baseRel}/`))];
  const filesBelow = () => model.files().filter((f) => f.startsWith(`${baseRel}/`));
  const maxBytes = options.maxBytes ?? 3 * 1024 * 1024;
  const push = (change: ScriptChange) => {
    changes.push(change);
    model.apply(change);
  };
  if (options.makeBase ?? true) push({ action: 'makedir', path: options.base });
  while (changes.length < options.count) {
    const roll = random();
    const files = filesBelow();
    if (roll < 0.15) {
      const depth = 1 + Math.floor(random() * 3);
      const parts = Array.from({ length: depth }, fresh);
      push({ action: 'makedir', path: `/${pick(folders())}/${parts.join('/')}` });
    } else if (roll < 0.55 || files.length < 3) {
      const big = random() < 0.03;
      const size = big ? maxBytes : random() < 0.1 ? 0 : Math.floor(random() * 64 * 1024);
      const body = Buffer.alloc(size);
      for (let i = 0; i + 4 <= size; i += 4096) body.writeUInt32LE(Math.floor(random() * 2 ** 32), i);
      push({ action: 'upload', path: `/${pick(folders())}/${fresh()}.bin`, body });
    } else if (roll < 0.65) {
      const body = Buffer.from(`overwrite ${serial++} ${random()}`);
      push({ action: 'upload', path: `/${pick(files)}`, body });
    } else if (roll < 0.75) {
      const from = pick(files);
      push({ action: 'rename', path: `/${from}`, target: `/${pick(folders())}/${fresh()}.moved` });
    } else if (roll < 0.82) {
      const movable = folders().filter((d) => d !== baseRel);
      if (movable.length === 0) continue;
      const from = pick(movable);
      const into = folders().filter((d) => d !== from && !d.startsWith(`${from}/`));
      push({ action: 'rename', path: `/${from}`, target: `/${pick(into)}/${fresh()}` });
    } else if (roll < 0.92) {
      // Mostly files: deleting a whole folder now and then, without emptying the tree.
      const folderVictims = folders().filter((d) => d !== baseRel);
      const victims = random() < 0.2 && folderVictims.length > 0 ? folderVictims : files;
      push({ action: 'delete', path: `/${pick(victims)}` });
    } else {
      push({
        action: 'mdtm',
        path: `/${pick(files)}`,
        modified: new Date(Date.UTC(2026, 0, 1) + serial++ * 1000).toISOString(),
      });
    }
  }
  return { changes, model };
}
