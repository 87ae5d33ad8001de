import type { Action, JournalEntry } from './entry.js';
import type { EchoFilter } from './intake.js';
import { parentOf } from './paths.js';

/** A change as the echo filter compares it: file changes and configuration documents alike. */
export interface EchoCandidate {
  action: Action;
  path: string;
  target?: string;
  sha256?: string;
}

/** What a replica looks like when the peer's own node reports it back. */
function fingerprints(change: EchoCandidate): string[] {
  switch (change.action) {
    case 'upload':
    case 'config_put':
      return [`put ${change.path} ${change.sha256 ?? ''}`];
    case 'rename':
      return [`rename ${change.path} ${change.target}`];
    case 'makedir':
      return [`makedir ${change.path}`];
    case 'delete':
    case 'config_delete':
      return [`delete ${change.path}`];
    case 'mdtm':
      return [];
  }
}

export interface EchoOptions {
  /** node name of each peer's own server (peers without one never echo). */
  nodeOfPeer: ReadonlyMap<string, string>;
  windowMs?: number;
  now?: () => number;
}

/**
 * Echo suppression for active-active clusters. When the relay applies a change to a peer that is some node's own
 * server, that node (its agent or hook) sees the replica appear and reports it as a change of its own. The filter
 * remembers each applied replica for `windowMs`; a report from that node that matches one exactly (same path and
 * content hash, same rename, same delete — a delete also covers anything below the deleted folder, a replica
 * upload also covers the folders created for it) is an echo, and is dropped — each time it is reported.
 */
export class ReplicaEchoFilter implements EchoFilter {
  private readonly expected = new Map<string, number[]>();
  private readonly deletedTrees = new Map<string, { path: string; until: number }[]>();
  private readonly suppressed = new Map<string, number>();
  private readonly windowMs: number;
  private readonly now: () => number;

  constructor(private readonly options: EchoOptions) {
    this.windowMs = options.windowMs ?? 120_000;
    this.now = options.now ?? Date.now;
  }

  /** Called when an entry was applied to its peer. */
  recordApplied(entry: JournalEntry): void {
    const node = this.options.nodeOfPeer.get(entry.peer);
    if (!node) return;
    for (const print of fingerprints(entry)) this.remember(node, print);
    if (entry.action === 'upload' || entry.action === 'rename') {
      // Parent collections the replica created (MKCOL) show up on the node as new folders.
      const created = entry.action === 'upload' ? entry.path : entry.target!;
      for (let dir = parentOf(created); dir !== '/' && dir !== entry.location; dir = parentOf(dir)) {
        this.remember(node, `makedir ${dir}`);
      }
    }
    if (entry.action === 'delete') {
      const trees = this.deletedTrees.get(node) ?? [];
      trees.push({ path: entry.path, until: this.now() + this.windowMs });
      this.deletedTrees.set(node, trees);
    }
  }

  isEcho(change: EchoCandidate, node: string | undefined): boolean {
    if (!node) return false;
    const now = this.now();
    for (const print of fingerprints(change)) {
      const key = `${node}\u0000${print}`;
      // Not consumed: a watcher may report one replica twice (add, then change); a repeat of the same content at
      // the same path within the window changes nothing on the other side anyway.
      if (this.expected.get(key)?.some((t) => t > now)) return this.count(node);
    }
    if (change.action === 'delete') {
      const trees = (this.deletedTrees.get(node) ?? []).filter((t) => t.until > now);
      this.deletedTrees.set(node, trees);
      if (trees.some((t) => change.path === t.path || change.path.startsWith(`${t.path}/`))) return this.count(node);
    }
    return false;
  }

  /** Echoes dropped so far, per node. */
  counts(): ReadonlyMap<string, number> {
    return this.suppressed;
  }

  private remember(node: string, print: string): void {
    const key = `${node}\u0000${print}`;
    const now = this.now();
    const times = (this.expected.get(key) ?? []).filter((t) => t > now);
    times.push(now + this.windowMs);
    this.expected.set(key, times);
    if (this.expected.size > 100_000) this.prune(now);
  }

  private prune(now: number): void {
    for (const [key, times] of this.expected) {
      const live = times.filter((t) => t > now);
      if (live.length === 0) this.expected.delete(key);
      else this.expected.set(key, live);
    }
  }

  private count(node: string): true {
    this.suppressed.set(node, (this.suppressed.get(node) ?? 0) + 1);
    return true;
  }
}
