import type { ByteBudget } from '../core/byte-budget.js';
import type { JournalEntry } from '../core/entry.js';
import type { HeldChanges } from '../core/held-changes.js';
import type { ChangeIntake } from '../core/intake.js';
import type { JobService } from '../core/jobs/job-service.js';
import type { JournalView } from '../core/journal-view.js';
import type { Logger } from '../core/logger.js';
import type { OperatorActions } from '../core/operator.js';
import type { PeerMonitor } from '../core/peer.js';
import type { TokenTable } from './auth.js';
import type { RateLimiter } from './rate-limit.js';
import type { RequestBodies } from './request-body.js';
import type { UploadKeys } from './upload-keys.js';

export interface UploadTarget {
  method: 'PUT';
  url: string;
  headers: Record<string, string>;
}

/**
 * Where a node sends an upload's body: the relay itself (embedded) or a presigned S3 URL (cloud). `relayUrl` is the
 * relay's own body URL for this change, key included (see UploadKeys), for factories that take bodies themselves.
 */
export type UploadTargetFactory = (entry: JournalEntry, relayUrl: string) => Promise<UploadTarget>;

export interface ApiLimits {
  /** JSON request bodies. */
  maxJsonBytes: number;
  /** Configuration documents (CONTRACT: 1 MiB). */
  maxConfigBytes: number;
  /** Upload bodies. */
  maxUploadBytes: number;
}

export interface ApiDeps {
  intake: ChangeIntake;
  /** Why the journal takes no more changes (see JournalStore.failure): `/healthz` answers 503 then. */
  journalFailure?: () => string | undefined;
  view: JournalView;
  operator: OperatorActions;
  /** What the delete guard holds (`/v1/holds`); absent: those answer 404. */
  held?: HeldChanges;
  monitor: PeerMonitor;
  /** Verify and resync jobs (`/v1/jobs`, `/v1/peers/{name}/verify|resync`); absent: those answer 404. */
  jobs?: JobService;
  /** Configured peers as operators may see them (no credentials). */
  peers: readonly { name: string; url: string; node?: string }[];
  /** Echoes suppressed so far, per node name (active-active clusters). */
  echoes?: () => Promise<ReadonlyMap<string, number>>;
  tokens: TokenTable;
  uploadTarget: UploadTargetFactory;
  /** Keys of the relay's own upload URLs; default: derived from the admin token. */
  uploadKeys?: UploadKeys;
  /** Requests per node token (429 RATE_LIMITED past it); default: none. One per app, shared by its routes. */
  rateLimiter?: RateLimiter;
  /** Base URL for links in responses (configured `publicUrl`). */
  publicUrl?: string;
  /**
   * Without publicUrl: the address the server listens on (set once it listens), so that links never come from a
   * client's Host header. Undefined where no server of ours listens (Lambda: the request's own origin is used).
   */
  listenUrl?: () => string | undefined;
  limits: ApiLimits;
  /**
   * `POST /v1/uploads` (bodies through the API). false: no such route (404), and nodes use the presigned
   * three-step flow (the edge: bodies never pass through it). Default true.
   */
  oneRequestUploads?: boolean;
  logger: Logger;
  /** How the server hands over request bodies; default: the web Request's (runtime/node-request-bodies.ts on Node). */
  requestBodies?: RequestBodies;
  /**
   * Memory for request bodies held whole, shared with the intake's (small uploads): configuration documents reserve
   * from it before they are read. Absent: not bounded here (a Lambda takes one request at a time).
   */
  bodyMemory?: ByteBudget;
}

export const DEFAULT_LIMITS: ApiLimits = {
  maxJsonBytes: 64 * 1024,
  maxConfigBytes: 1024 * 1024,
  maxUploadBytes: 2 ** 40,
};

/**
 * The embedded relay takes bodies itself, at `PUT /v1/changes/{id}/body?key=…` with the node's bearer token: only
 * the node that created the change, holding the URL's key, may send it.
 */
export const relayUploadTarget: UploadTargetFactory = async (_entry, relayUrl) => ({
  method: 'PUT',
  url: relayUrl,
  headers: { 'content-type': 'application/octet-stream' },
});
