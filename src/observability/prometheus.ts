import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { PeerReading } from '../api/operator-reads.js';
import type { ReplayOutcome } from '../core/peer.js';
import type { ReplayReport } from '../core/replayer.js';

/** The `outcome` label: the replay outcome, with `bad_entry` named for the status it leads to. */
const OUTCOME_LABEL: Record<ReplayOutcome['kind'], string> = {
  applied: 'applied',
  conflict: 'conflict',
  offline: 'offline',
  unauthorized: 'unauthorized',
  bad_entry: 'failed',
  held: 'held',
};

export interface PrometheusOptions {
  /** Node process metrics (CPU, memory, event loop, GC) beside the relay's own; default true. */
  processMetrics?: boolean;
  now?: () => number;
  /** Why the journal takes no more changes (see JournalStore.failure): `vfs_relay_journal_ok` says 0 then. */
  journalFailure?: () => string | undefined;
}

/**
 * The relay's Prometheus metrics (prom-client; Node only, so the runtime owns it and the API gets its `render`).
 * Counters grow with every replay this process makes; the backlog gauges are set from the same figures as
 * `GET /v1/peers` at each scrape, so a scrape and the API never disagree.
 */
export class PrometheusExporter {
  readonly contentType: string;
  private readonly registry = new Registry();
  private readonly now: () => number;
  private readonly changes: Counter<'peer' | 'outcome'>;
  private readonly appliedBytes: Counter<'peer'>;
  private readonly duration: Histogram<'peer'>;
  private readonly gauges: Record<
    'pending' | 'pendingBytes' | 'oldest' | 'conflicts' | 'failed' | 'blocked' | 'awaitingBody' | 'held' | 'online',
    Gauge<'peer'>
  >;
  private readonly lastPing: Gauge<'peer'>;
  private readonly uploadsExpired: Counter<'node'>;
  private readonly journalOk: Gauge | undefined;
  private readonly journalFailure: (() => string | undefined) | undefined;

  constructor(peers: readonly string[], options: PrometheusOptions = {}) {
    this.now = options.now ?? Date.now;
    this.contentType = this.registry.contentType;
    const registers = [this.registry];
    this.changes = new Counter({
      name: 'vfs_relay_changes_total',
      help: 'Replay attempts made by this process, by peer and outcome (applied, conflict, failed, offline, unauthorized, held)',
      labelNames: ['peer', 'outcome'],
      registers,
    });
    this.appliedBytes = new Counter({
      name: 'vfs_relay_applied_bytes_total',
      help: 'Body bytes of the changes this process applied on each peer',
      labelNames: ['peer'],
      registers,
    });
    this.duration = new Histogram({
      name: 'vfs_relay_replay_duration_seconds',
      help: 'How long one replay attempt took, by peer',
      labelNames: ['peer'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    });
    const gauge = (name: string, help: string) => new Gauge({ name, help, labelNames: ['peer'], registers });
    this.gauges = {
      pending: gauge('vfs_relay_pending', 'Changes waiting to reach the peer (PENDING and BLOCKED)'),
      pendingBytes: gauge('vfs_relay_pending_bytes', 'Body bytes of the changes waiting to reach the peer'),
      oldest: gauge('vfs_relay_oldest_pending_seconds', 'Age of the oldest change waiting for the peer (0: none)'),
      conflicts: gauge('vfs_relay_conflicts', 'Changes the peer refused (CONFLICT), waiting for an operator'),
      failed: gauge('vfs_relay_failed', 'Changes that cannot be replayed (FAILED), waiting for an operator'),
      blocked: gauge('vfs_relay_blocked', 'Changes waiting behind an overlapping stuck change (BLOCKED)'),
      awaitingBody: gauge('vfs_relay_awaiting_body', 'Uploads journaled whose body has not been committed yet'),
      held: gauge('vfs_relay_held', 'Changes the delete guard holds (HELD) until an operator releases them'),
      online: gauge('vfs_relay_peer_online', '1 when the peer is ONLINE, 0 when OFFLINE or UNAUTHORIZED'),
    };
    this.lastPing = gauge('vfs_relay_peer_last_ping_timestamp_seconds', 'When the peer was last probed (Unix time)');
    this.uploadsExpired = new Counter({
      name: 'vfs_relay_uploads_expired_total',
      help: 'Uploads this process dropped because their body stopped moving (limits.uploadIdleExpirySeconds) or they outlived limits.uploadMaxLifetimeSeconds, by node',
      labelNames: ['node'],
      registers,
    });
    this.journalFailure = options.journalFailure;
    this.journalOk = options.journalFailure
      ? new Gauge({
          name: 'vfs_relay_journal_ok',
          help: '1 while the journal takes changes, 0 once a write or an fsync of it failed (fail-stop: restart the relay)',
          registers,
        })
      : undefined;
    // Every series exists from the start, so rate() and alerts have data before the first replay.
    for (const peer of peers) {
      for (const outcome of Object.values(OUTCOME_LABEL)) this.changes.inc({ peer, outcome }, 0);
      this.appliedBytes.inc({ peer }, 0);
    }
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Feed it from the replayer's `onReplay`. */
  record({ entry, outcome, durationMs }: ReplayReport): void {
    this.changes.inc({ peer: entry.peer, outcome: OUTCOME_LABEL[outcome.kind] });
    this.duration.observe({ peer: entry.peer }, durationMs / 1000);
    if (outcome.kind === 'applied') this.appliedBytes.inc({ peer: entry.peer }, entry.size ?? 0);
  }

  /** Feed it from the upload expiry's `onExpired`. */
  uploadExpired(node: string | undefined): void {
    this.uploadsExpired.inc({ node: node ?? 'unknown' });
  }

  /** The exposition text, with the gauges set from `peers` (as `GET /v1/peers` reports them). */
  async render(peers: readonly PeerReading[]): Promise<string> {
    for (const g of [...Object.values(this.gauges), this.lastPing]) g.reset();
    this.journalOk?.set(this.journalFailure?.() === undefined ? 1 : 0);
    const now = this.now();
    for (const p of peers) {
      const peer = { peer: p.name };
      this.gauges.pending.set(peer, p.pending);
      this.gauges.pendingBytes.set(peer, p.pendingBytes);
      this.gauges.oldest.set(peer, ageSeconds(p.oldestPendingAt, now));
      this.gauges.conflicts.set(peer, p.conflicts);
      this.gauges.failed.set(peer, p.failed);
      this.gauges.blocked.set(peer, p.blocked);
      this.gauges.awaitingBody.set(peer, p.awaitingBody);
      this.gauges.held.set(peer, p.held);
      this.gauges.online.set(peer, p.status === 'ONLINE' ? 1 : 0);
      const pingedAt = p.lastPingAt ? Date.parse(p.lastPingAt) : Number.NaN;
      if (Number.isFinite(pingedAt)) this.lastPing.set(peer, pingedAt / 1000);
    }
    return this.registry.metrics();
  }
}

function ageSeconds(since: string | null, now: number): number {
  const at = since ? Date.parse(since) : Number.NaN;
  return Number.isFinite(at) ? Math.max(0, (now - at) / 1000) : 0;
}
