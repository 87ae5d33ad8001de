/**
 * Convergence jobs (CONTRACT "Resync and verify"): a verify compares a peer with a source folder by folder; a
 * resync also brings the peer to the source's state through the peer's lane. This file is the job's record as it
 * is stored (job.json) and as the API shows it.
 */

export const JOB_KINDS = ['verify', 'resync'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

export const JOB_STATUSES = ['RUNNING', 'DONE', 'FAILED', 'CANCELLED'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const DIFFERENCE_KINDS = ['missing', 'different', 'extra'] as const;
export type DifferenceKind = (typeof DIFFERENCE_KINDS)[number];

export type ItemType = 'file' | 'dir';

/** One side of a difference, as the API shows it. */
export interface SideInfo {
  type: ItemType;
  size?: number;
  modified?: string;
}

export interface Difference {
  path: string;
  kind: DifferenceKind;
  source: SideInfo | null;
  peer: SideInfo | null;
  /** For `different`: what differs first (type, size, modified, checksum). */
  reason?: 'type' | 'size' | 'modified' | 'checksum';
}

export interface JobCounts {
  /** Paths compared (source and peer listings merged by name). */
  scanned: number;
  same: number;
  missing: number;
  different: number;
  /** Extra items on the peer; an extra folder counts once (its contents are not walked). */
  extra: number;
  /** Files and folders the resync wrote to the peer. */
  copied: number;
  /** Items the resync removed from the peer (extras with `delete: true`, and items replaced by another type). */
  deleted: number;
  /** Removals the delete guard holds for an operator (none yet: the guard comes with its own change). */
  held: number;
  /** Writes that failed (the source or the peer refused, or the source was unreachable). */
  failed: number;
  /**
   * Writes left out because a live change touched the path after the job started, or because the peer or the
   * source changed at that path after the job compared it (an addition to the contract's counts).
   */
  skipped: number;
  /**
   * Names found on either side that the relay cannot replicate (it refuses them as paths), left out of the
   * comparison: a verify that found some has not shown the trees identical (an addition to the contract's counts).
   */
  unsupported: number;
}

export interface JobOptions {
  checksum: boolean;
  delete: boolean;
  dryRun: boolean;
}

/** A folder still to walk. `peerAbsent`: the peer has nothing there, so only the source is listed. */
export interface PendingFolder {
  path: string;
  peerAbsent?: boolean;
}

/** The job as stored: the public fields plus what resuming it needs. */
export interface Job {
  id: string;
  kind: JobKind;
  peer: string;
  from: string;
  path: string;
  options: JobOptions;
  status: JobStatus;
  counts: JobCounts;
  /** total: bytes of the source's files that are missing or different on the peer; copied: bytes written. */
  bytes: { total: number; copied: number };
  /** When the job began to watch live changes and to compare (see docs/convergence.md). */
  startedAt: string;
  finishedAt: string | null;
  error: string | null;
  /** Folders not walked yet (a stack: the walk goes depth first, so it stays short). */
  pending: PendingFolder[];
  /** The walk has listed every folder. */
  walked: boolean;
  /** Differences stored so far (the list may hold more after a crash; this many are valid). */
  differences: number;
  /** Journal entries the job wrote (resync). */
  entriesWritten: number;
  /** Of those, how many the replay finished (written, skipped or failed). */
  entriesFinished: number;
  updatedAt: string;
}

/** What `GET /v1/jobs/{id}` shows (CONTRACT). */
export interface JobView {
  id: string;
  kind: JobKind;
  peer: string;
  from: string;
  path: string;
  status: JobStatus;
  options: JobOptions;
  counts: JobCounts;
  bytes: { total: number; copied: number };
  startedAt: string;
  finishedAt: string | null;
  error: string | null;
}

export function emptyCounts(): JobCounts {
  return {
    scanned: 0,
    same: 0,
    missing: 0,
    different: 0,
    extra: 0,
    copied: 0,
    deleted: 0,
    held: 0,
    failed: 0,
    skipped: 0,
    unsupported: 0,
  };
}

export function jobView(job: Job): JobView {
  return {
    id: job.id,
    kind: job.kind,
    peer: job.peer,
    from: job.from,
    path: job.path,
    status: job.status,
    options: job.options,
    counts: job.counts,
    bytes: job.bytes,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    error: job.error,
  };
}

export function addCounts(into: JobCounts, add: Partial<JobCounts>): void {
  for (const [key, value] of Object.entries(add) as [keyof JobCounts, number][]) into[key] = (into[key] ?? 0) + value;
}

/** Writes a job makes, as the walk plans them for one folder (see compare.ts). */
export type PlannedWrite =
  | {
      op: 'copy';
      path: string;
      size: number;
      modified?: string;
      fromEtag?: string;
      ifMatch?: string;
      ifNoneMatch?: '*';
    }
  | { op: 'makedir'; path: string; ifNoneMatch?: '*' }
  | { op: 'delete'; path: string; ifMatch?: string; why: 'extra' | 'replace' };
