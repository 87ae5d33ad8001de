import { ContentRefusedError, NotFoundError } from '../errors.js';
import { normalizePath } from '../paths.js';
import { emptyCounts, type Job, type JobKind } from './job.js';
import type { JobScope } from './scope.js';

/** `POST /v1/peers/{name}/verify|resync` bodies (CONTRACT). */
export interface JobRequest {
  from: string;
  path?: string;
  checksum?: boolean;
  delete?: boolean;
  dryRun?: boolean;
}

export interface JobPlanContext {
  peers: readonly string[];
  /** Every name a job may read from: sources and peers. */
  servers: readonly string[];
  scope: JobScope;
  id: string;
  now: Date;
  /** When the job starts watching live changes and comparing (cloud: a few seconds after it is created). */
  startsAt?: Date;
}

/** Checks a job request and makes the job's first record (RUNNING, its path the only folder to walk). */
export function planJob(kind: JobKind, peer: string, request: JobRequest, context: JobPlanContext): Job {
  if (!context.peers.includes(peer)) throw new NotFoundError('PEER_NOT_FOUND', `no peer named "${peer}"`);
  if (request.from === peer) {
    throw new ContentRefusedError('SAME_PEER', `"from" names the peer itself: pick a source or another peer`);
  }
  if (!context.servers.includes(request.from)) {
    throw new NotFoundError('SOURCE_NOT_FOUND', `no source or peer named "${request.from}"`);
  }
  const path = normalizePath(request.path ?? '/');
  if (context.scope.of(path) === 'out') {
    throw new ContentRefusedError('PATH_NOT_REPLICATED', `${path} is not in a replicated VFS location`);
  }
  const now = context.now.toISOString();
  return {
    id: context.id,
    kind,
    peer,
    from: request.from,
    path,
    options: {
      checksum: request.checksum ?? false,
      delete: kind === 'resync' && (request.delete ?? false),
      dryRun: kind === 'resync' && (request.dryRun ?? false),
    },
    status: 'RUNNING',
    counts: emptyCounts(),
    bytes: { total: 0, copied: 0 },
    startedAt: (context.startsAt ?? context.now).toISOString(),
    finishedAt: null,
    error: null,
    pending: [{ path }],
    walked: false,
    differences: 0,
    entriesWritten: 0,
    entriesFinished: 0,
    updatedAt: now,
  };
}

/** A resync that writes (not a verify, not a dry run): the kind of job live changes must be reported to. */
export function jobWrites(job: Pick<Job, 'kind' | 'options'>): boolean {
  return job.kind === 'resync' && !job.options.dryRun;
}
