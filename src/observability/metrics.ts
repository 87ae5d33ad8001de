import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { IgnoredReason } from '../core/intake.js';
import type { JobView } from '../core/jobs/job.js';
import { emptyBacklog, type LaneBacklog } from '../core/journal-view.js';
import type { PeerStatus, ReplayOutcome } from '../core/peer.js';
import type { ReplayReport } from '../core/replayer.js';
import {
  DEFAULT_METRICS_NAMESPACE,
  DEFAULT_SERVICE_NAME,
  DIMENSION,
  METRIC,
  type MetricSpec,
  type MetricUnitName,
} from './metric-names.js';

/**
 * CloudWatch metrics as Embedded Metric Format lines on stdout (Powertools Metrics): in Lambda, CloudWatch turns
 * them into metrics with no API call and no added latency. Each helper below buffers what it is told and writes
 * one EMF object per dimension value (peer, reason, node) when asked to `publish`; a Lambda handler publishes
 * once at the end of its invocation.
 *
 * Give each helper a Metrics instance of its own (the default): publishing clears the instance's dimensions,
 * so sharing one with other code would mix their dimensions up.
 */

const UNIT = {
  Count: MetricUnit.Count,
  Bytes: MetricUnit.Bytes,
  Seconds: MetricUnit.Seconds,
  Milliseconds: MetricUnit.Milliseconds,
  None: MetricUnit.NoUnit,
} as const satisfies Record<MetricUnitName, string>;

/**
 * EMF takes at most 100 values per metric in one object, and Powertools publishes (clearing the dimensions) the
 * moment a metric reaches 100: objects are cut at 99 values so that only `emit` ever publishes.
 */
const MAX_VALUES_PER_OBJECT = 99;

export interface MetricsOptions {
  namespace?: string;
  serviceName?: string;
}

/** A Powertools Metrics instance in the relay's namespace, with the `service` dimension set. */
export function createMetrics(options: MetricsOptions = {}): Metrics {
  return new Metrics({
    namespace: options.namespace ?? process.env.POWERTOOLS_METRICS_NAMESPACE ?? DEFAULT_METRICS_NAMESPACE,
    serviceName: options.serviceName ?? process.env.POWERTOOLS_SERVICE_NAME ?? DEFAULT_SERVICE_NAME,
  });
}

/** Series of values, by metric, that share one dimension value. */
type Series = Map<MetricSpec, number[]>;

/**
 * Writes `series` as EMF objects carrying `dimension`, at most 99 values of a metric per object. Metrics without
 * values are left out; nothing is written when no metric has one.
 */
function emit(metrics: Metrics, dimension: readonly [string, string], series: Series): void {
  for (let start = 0; ; start += MAX_VALUES_PER_OBJECT) {
    const chunk = [...series].map(
      ([metric, values]) => [metric, values.slice(start, start + MAX_VALUES_PER_OBJECT)] as const,
    );
    if (chunk.every(([, values]) => values.length === 0)) return;
    metrics.addDimension(dimension[0], dimension[1]);
    for (const [metric, values] of chunk) {
      for (const value of values) metrics.addMetric(metric.name, UNIT[metric.unit], value);
    }
    metrics.publishStoredMetrics();
  }
}

const OUTCOMES: readonly (readonly [ReplayOutcome['kind'], MetricSpec])[] = [
  ['applied', METRIC.replayApplied],
  ['conflict', METRIC.replayConflict],
  ['offline', METRIC.replayOffline],
  ['unauthorized', METRIC.replayUnauthorized],
  ['bad_entry', METRIC.replayFailed],
];

/**
 * Per peer: one count per outcome (applied, conflict, offline, unauthorized, failed; zeros included, so sums and
 * rates have data), the duration of every attempt, and for applied entries the replication latency (journaled →
 * on the peer). Feed it from the replayer's `onReplay`.
 */
export class ReplayMetrics {
  private readonly byPeer = new Map<string, PeerTally>();

  constructor(
    private readonly metrics: Metrics = createMetrics(),
    private readonly now: () => Date = () => new Date(),
  ) {}

  record({ entry, outcome, durationMs }: ReplayReport): void {
    let tally = this.byPeer.get(entry.peer);
    if (!tally) {
      tally = { outcomes: new Map(), durations: [], latencies: [] };
      this.byPeer.set(entry.peer, tally);
    }
    tally.outcomes.set(outcome.kind, (tally.outcomes.get(outcome.kind) ?? 0) + 1);
    tally.durations.push(Math.round(durationMs));
    if (outcome.kind === 'applied') {
      const latency = this.now().getTime() - Date.parse(entry.createdAt);
      if (Number.isFinite(latency)) tally.latencies.push(Math.max(0, latency));
    }
  }

  /** Writes what was recorded since the last publish, one EMF object per peer. */
  publish(): void {
    for (const [peer, tally] of this.byPeer) {
      const series: Series = new Map();
      for (const [kind, metric] of OUTCOMES) series.set(metric, [tally.outcomes.get(kind) ?? 0]);
      series.set(METRIC.replayDuration, tally.durations);
      series.set(METRIC.replicationLatency, tally.latencies);
      emit(this.metrics, [DIMENSION.peer, peer], series);
    }
    this.byPeer.clear();
  }
}

interface PeerTally {
  outcomes: Map<ReplayOutcome['kind'], number>;
  durations: number[];
  latencies: number[];
}

export interface BacklogOptions {
  /** Every configured peer: those with nothing waiting are published as zeros, so their alarms see data. */
  peers?: Iterable<string>;
  now?: Date;
}

const EMPTY_BACKLOG: LaneBacklog = emptyBacklog();

/**
 * Backlog gauges per peer from `JournalView.backlog()`: entries and bytes waiting (PENDING + BLOCKED), the age of
 * the oldest of them (0 when none), entries parked in CONFLICT, FAILED or BLOCKED, and those the delete guard HELD.
 */
export class BacklogMetrics {
  constructor(private readonly metrics: Metrics = createMetrics()) {}

  publish(backlog: ReadonlyMap<string, LaneBacklog>, options: BacklogOptions = {}): void {
    const now = (options.now ?? new Date()).getTime();
    const peers = new Set([...(options.peers ?? []), ...backlog.keys()]);
    for (const peer of peers) {
      const b = backlog.get(peer) ?? EMPTY_BACKLOG;
      const oldest = b.oldestPendingAt ? Date.parse(b.oldestPendingAt) : Number.NaN;
      const ageSeconds = Number.isFinite(oldest) ? Math.max(0, Math.round((now - oldest) / 1000)) : 0;
      const series: Series = new Map([
        [METRIC.pendingEntries, [b.pending]],
        [METRIC.pendingBytes, [b.pendingBytes]],
        [METRIC.oldestPendingAge, [ageSeconds]],
        [METRIC.conflictEntries, [b.conflicts]],
        [METRIC.failedEntries, [b.failed]],
        [METRIC.blockedEntries, [b.blocked]],
        [METRIC.heldChanges, [b.held]],
      ]);
      emit(this.metrics, [DIMENSION.peer, peer], series);
    }
  }
}

/** `PeerOnline` per peer: 1 when ONLINE, 0 when OFFLINE or UNAUTHORIZED. Published after every ping. */
export class PeerMetrics {
  constructor(private readonly metrics: Metrics = createMetrics()) {}

  publish(statuses: ReadonlyMap<string, PeerStatus>): void {
    for (const [peer, status] of statuses) {
      emit(this.metrics, [DIMENSION.peer, peer], new Map([[METRIC.peerOnline, [status === 'ONLINE' ? 1 : 0]]]));
    }
  }
}

/**
 * What the intake did not journal: `ChangesIgnored` per reason, and `EchoesSuppressed` per node for the echoes
 * of replicas (active-active clusters).
 */
export class IntakeMetrics {
  private readonly ignored = new Map<string, number>();
  private readonly echoes = new Map<string, number>();

  constructor(private readonly metrics: Metrics = createMetrics()) {}

  recordIgnored(reason: IgnoredReason, node?: string): void {
    this.ignored.set(reason, (this.ignored.get(reason) ?? 0) + 1);
    if (reason === 'ECHO' && node) this.echoes.set(node, (this.echoes.get(node) ?? 0) + 1);
  }

  publish(): void {
    for (const [reason, count] of this.ignored) {
      emit(this.metrics, [DIMENSION.reason, reason], new Map([[METRIC.changesIgnored, [count]]]));
    }
    for (const [node, count] of this.echoes) {
      emit(this.metrics, [DIMENSION.node, node], new Map([[METRIC.echoesSuppressed, [count]]]));
    }
    this.ignored.clear();
    this.echoes.clear();
  }
}

/**
 * `UploadsExpired` per node: uploads the expiry dropped because their body stopped moving (a node that opens uploads
 * and goes away). Counted as they happen, published (and reset) by the ping after its sweep.
 */
export class UploadMetrics {
  private readonly expired = new Map<string, number>();

  constructor(private readonly metrics: Metrics = createMetrics()) {}

  recordExpired(node: string | undefined): void {
    const key = node ?? 'unknown';
    this.expired.set(key, (this.expired.get(key) ?? 0) + 1);
  }

  publish(): void {
    for (const [node, count] of this.expired) {
      emit(this.metrics, [DIMENSION.node, node], new Map([[METRIC.uploadsExpired, [count]]]));
    }
    this.expired.clear();
  }
}

/**
 * Job progress per peer after a run of the job slices: how many jobs run, and over them items scanned,
 * differences found, writes done and bytes copied; plus `JobsFailed`, the jobs that ended FAILED in that run.
 * Every configured peer gets a value each time (zeros when idle), so graphs and the alarm see data.
 */
export class JobMetrics {
  constructor(private readonly metrics: Metrics = createMetrics()) {}

  publish(report: { jobs: readonly JobView[]; ended: readonly JobView[] }, peers: Iterable<string>): void {
    const all = new Set([...peers, ...report.jobs.map((j) => j.peer)]);
    for (const peer of all) {
      const running = report.jobs.filter((j) => j.peer === peer && j.status === 'RUNNING');
      const sum = (value: (j: JobView) => number) => running.reduce((n, j) => n + value(j), 0);
      const failed = report.ended.filter((j) => j.peer === peer && j.status === 'FAILED').length;
      const series: Series = new Map([
        [METRIC.jobsRunning, [running.length]],
        [METRIC.jobItemsScanned, [sum((j) => j.counts.scanned)]],
        [METRIC.jobDifferences, [sum((j) => j.counts.missing + j.counts.different + j.counts.extra)]],
        [METRIC.jobWritesDone, [sum((j) => j.counts.copied + j.counts.deleted)]],
        [METRIC.jobBytesCopied, [sum((j) => j.bytes.copied)]],
        [METRIC.jobsFailed, [failed]],
      ]);
      emit(this.metrics, [DIMENSION.peer, peer], series);
    }
  }
}
