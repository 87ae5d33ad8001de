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

/**
 * Where the fingerprints of applied replicas are kept until they expire: in memory for one process (the embedded
 * relay), beside the journal when separate processes share the work (cloud mode: the replay function records,
 * the API function looks up). A fingerprint is one short string (see `fingerprints`).
 */
export interface ReplicaRecords {
  /** Keeps `prints` of `node` until `expiresAt` (ms since the epoch); writing one again replaces its expiry. */
  remember(node: string, prints: readonly string[], expiresAt: number): Promise<void>;
  /** Whether one of `prints` of `node` is kept and expires after `now`. */
  remembers(node: string, prints: readonly string[], now: number): Promise<boolean>;
  /** Counts one suppressed echo of `node`. Best effort: never throws. */
  countEcho(node: string): Promise<void>;
  /** Echoes suppressed so far for these nodes. */
  echoCounts(nodes: readonly string[]): Promise<ReadonlyMap<string, number>>;
}

/**
 * Ancestors looked at for one change: the folders a replica may have created above its path, and the deleted
 * folders a reported delete may lie in. Bounds the records written per replica and the lookups per report.
 */
export const MAX_ECHO_ANCESTORS = 32;

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

/** The folders above `path`, nearest first, stopping before `/` and `stop`, at most MAX_ECHO_ANCESTORS. */
function ancestors(path: string, stop?: string): string[] {
  const found: string[] = [];
  for (let dir = parentOf(path); dir !== '/' && dir !== stop && found.length < MAX_ECHO_ANCESTORS; ) {
    found.push(dir);
    dir = parentOf(dir);
  }
  return found;
}

export interface EchoOptions {
  /** node name of each peer's own server (peers without one never echo). */
  nodeOfPeer: ReadonlyMap<string, string>;
  records: ReplicaRecords;
  windowMs?: number;
  now?: () => number;
}

/**
 * Echo suppression for active-active clusters. When the relay applies a change to a peer that is some node's own
 * server, that node (its agent or hook) sees the replica appear and reports it as a change of its own. Before the
 * replica is sent, its fingerprints are recorded for `windowMs`; a report from that node that matches one exactly
 * (same path and content hash, same rename, same delete — a delete also covers anything below the deleted folder,
 * a replica upload or rename also covers the folders created for it) is an echo, and is dropped — each time it is
 * reported.
 *
 * Recording comes before the request, so an echo can never be reported before its record exists, whichever
 * process records and whichever looks up; an attempt that fails leaves a record that expires unused. A record
 * written less than half a window ago by this filter is not written again (many uploads into one folder record
 * that folder once), so every record it relies on stays valid for at least half a window.
 */
export class ReplicaEchoFilter implements EchoFilter {
  private readonly windowMs: number;
  private readonly now: () => number;
  /** When each record this filter wrote expires: `node \0 fingerprint` → ms. */
  private readonly written = new Map<string, number>();

  constructor(private readonly options: EchoOptions) {
    this.windowMs = options.windowMs ?? 120_000;
    this.now = options.now ?? Date.now;
  }

  /** Called before an entry is sent to its peer (and again once it applied: a long transfer renews its record). */
  async recordReplica(entry: JournalEntry): Promise<void> {
    const node = this.options.nodeOfPeer.get(entry.peer);
    if (!node) return;
    const prints = fingerprints(entry);
    if (entry.action === 'upload' || entry.action === 'rename') {
      // Parent collections the replica creates (MKCOL) show up on the node as new folders.
      const created = entry.action === 'upload' ? entry.path : entry.target!;
      for (const dir of ancestors(created, entry.location)) prints.push(`makedir ${dir}`);
    }
    const now = this.now();
    const due = prints.filter((print) => (this.written.get(`${node}\u0000${print}`) ?? 0) - now <= this.windowMs / 2);
    if (due.length === 0) return;
    const expiresAt = now + this.windowMs;
    await this.options.records.remember(node, due, expiresAt);
    if (this.written.size > 100_000) this.prune(now);
    for (const print of due) this.written.set(`${node}\u0000${print}`, expiresAt);
  }

  async isEcho(change: EchoCandidate, node: string | undefined): Promise<boolean> {
    if (!node || !this.nodes().includes(node)) return false;
    const { records } = this.options;
    const now = this.now();
    // Not consumed: a watcher may report one replica twice (add, then change); a repeat of the same content at
    // the same path within the window changes nothing on the other side anyway.
    let echo = await records.remembers(node, fingerprints(change), now);
    if (!echo && change.action === 'delete') {
      echo = await records.remembers(
        node,
        ancestors(change.path).map((dir) => `delete ${dir}`),
        now,
      );
    }
    if (echo) await records.countEcho(node);
    return echo;
  }

  /** Echoes dropped so far, per node (across processes when the records are shared). */
  counts(): Promise<ReadonlyMap<string, number>> {
    return this.options.records.echoCounts(this.nodes());
  }

  private nodes(): string[] {
    return [...new Set(this.options.nodeOfPeer.values())];
  }

  private prune(now: number): void {
    for (const [key, expiresAt] of this.written) if (expiresAt - now <= this.windowMs / 2) this.written.delete(key);
  }
}

/** Records kept in this process only: the embedded relay, where the API and the replayer share one filter. */
export class MemoryReplicaRecords implements ReplicaRecords {
  private readonly expiry = new Map<string, number>();
  private readonly suppressed = new Map<string, number>();

  /** `now`: the clock the filter uses (expired records are dropped once there are many). */
  constructor(private readonly now: () => number = Date.now) {}

  async remember(node: string, prints: readonly string[], expiresAt: number): Promise<void> {
    for (const print of prints) this.expiry.set(`${node}\u0000${print}`, expiresAt);
    if (this.expiry.size > 100_000) this.prune(this.now());
  }

  async remembers(node: string, prints: readonly string[], now: number): Promise<boolean> {
    return prints.some((print) => (this.expiry.get(`${node}\u0000${print}`) ?? 0) > now);
  }

  async countEcho(node: string): Promise<void> {
    this.suppressed.set(node, (this.suppressed.get(node) ?? 0) + 1);
  }

  async echoCounts(nodes: readonly string[]): Promise<ReadonlyMap<string, number>> {
    return new Map(nodes.map((node) => [node, this.suppressed.get(node) ?? 0]));
  }

  private prune(now: number): void {
    for (const [key, expiresAt] of this.expiry) if (expiresAt <= now) this.expiry.delete(key);
  }
}
