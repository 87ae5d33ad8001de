/**
 * The relay's CloudWatch metrics: one list shared by the code that emits them (src/observability/metrics.ts, as
 * EMF lines on stdout) and the stack that charts and alarms on them (infra/), so a rename cannot split the two.
 * Plain constants only: infra imports this file without pulling in Powertools.
 */

/** Default CloudWatch namespace; `POWERTOOLS_METRICS_NAMESPACE` overrides it. */
export const DEFAULT_METRICS_NAMESPACE = 'VfsRelay';
/** Default value of the `service` dimension Powertools adds to every metric; `POWERTOOLS_SERVICE_NAME` overrides it. */
export const DEFAULT_SERVICE_NAME = 'vfs-relay';

export const DIMENSION = {
  /** Powertools' own default dimension: one relay deployment. */
  service: 'service',
  /** The peer (secondary server) a figure is about. */
  peer: 'peer',
  /** Why a change was not journaled (REPLICATION_USER, NOT_REPLICATED, ECHO, NO_PEERS). */
  reason: 'reason',
  /** The node whose report was recognised as an echo. */
  node: 'node',
} as const;

/** CloudWatch units, as the EMF `Unit` field spells them. */
export type MetricUnitName = 'Count' | 'Bytes' | 'Seconds' | 'Milliseconds' | 'None';

export interface MetricSpec {
  readonly name: string;
  readonly unit: MetricUnitName;
}

function spec(name: string, unit: MetricUnitName): MetricSpec {
  return { name, unit };
}

export const METRIC = {
  // One value per replay attempt, dimensions service + peer (src/core/replayer.ts ReplayReport).
  replayApplied: spec('ReplayApplied', 'Count'),
  replayConflict: spec('ReplayConflict', 'Count'),
  replayOffline: spec('ReplayOffline', 'Count'),
  replayUnauthorized: spec('ReplayUnauthorized', 'Count'),
  /** `bad_entry`: the entry is FAILED and needs an operator. */
  replayFailed: spec('ReplayFailed', 'Count'),
  /** How long the peer took to answer one attempt. */
  replayDuration: spec('ReplayDuration', 'Milliseconds'),
  /** Journaled → applied on the peer (entry createdAt to the end of the successful attempt). */
  replicationLatency: spec('ReplicationLatency', 'Milliseconds'),

  // Backlog gauges, dimensions service + peer (src/core/journal-view.ts LaneBacklog), published by the ping.
  pendingEntries: spec('PendingEntries', 'Count'),
  pendingBytes: spec('PendingBytes', 'Bytes'),
  oldestPendingAge: spec('OldestPendingAge', 'Seconds'),
  conflictEntries: spec('ConflictEntries', 'Count'),
  failedEntries: spec('FailedEntries', 'Count'),
  blockedEntries: spec('BlockedEntries', 'Count'),
  /** Changes the delete guard holds (HELD) until an operator releases or discards them. */
  heldChanges: spec('HeldChanges', 'Count'),

  /** 1 when the peer is ONLINE, 0 when OFFLINE or UNAUTHORIZED; dimensions service + peer. */
  peerOnline: spec('PeerOnline', 'None'),

  /** A change a node reported that was not journaled; dimensions service + reason. */
  changesIgnored: spec('ChangesIgnored', 'Count'),
  /** A node's report recognised as the echo of a replica this relay applied; dimensions service + node. */
  echoesSuppressed: spec('EchoesSuppressed', 'Count'),
  /**
   * Uploads dropped because their body stopped moving (`limits.uploadIdleExpirySeconds`) or they outlived
   * `limits.uploadMaxLifetimeSeconds`; dimensions service + node.
   */
  uploadsExpired: spec('UploadsExpired', 'Count'),

  // Verify and resync jobs, dimensions service + peer, published by the ping after it ran the jobs' slices
  // (src/runtime/cloud/jobs/cloud-jobs.ts SliceReport). Gauges over the peer's running jobs.
  jobsRunning: spec('JobsRunning', 'Count'),
  jobItemsScanned: spec('JobItemsScanned', 'Count'),
  /** Missing + different + extra found so far. */
  jobDifferences: spec('JobDifferences', 'Count'),
  /** Copied + deleted so far. */
  jobWritesDone: spec('JobWritesDone', 'Count'),
  jobBytesCopied: spec('JobBytesCopied', 'Bytes'),
  /** Jobs that ended FAILED since the last ping (the alarm's metric). */
  jobsFailed: spec('JobsFailed', 'Count'),
} as const satisfies Record<string, MetricSpec>;
