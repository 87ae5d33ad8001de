import type { JournalEntry } from '../core/entry.js';
import type { ChangeIntake } from '../core/intake.js';
import type { JournalView } from '../core/journal-view.js';
import type { Logger } from '../core/logger.js';
import type { OperatorActions } from '../core/operator.js';
import type { PeerMonitor } from '../core/peer.js';
import type { TokenTable } from './auth.js';

export interface UploadTarget {
  method: 'PUT';
  url: string;
  headers: Record<string, string>;
}

/** Where a node sends an upload's body: the relay itself (embedded) or a presigned S3 URL (cloud). */
export type UploadTargetFactory = (entry: JournalEntry, apiBase: string) => Promise<UploadTarget>;

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
  view: JournalView;
  operator: OperatorActions;
  monitor: PeerMonitor;
  /** Configured peers as operators may see them (no credentials). */
  peers: readonly { name: string; url: string; node?: string }[];
  /** Echoes suppressed so far, per node name (active-active clusters). */
  echoes?: () => Promise<ReadonlyMap<string, number>>;
  tokens: TokenTable;
  uploadTarget: UploadTargetFactory;
  /** Base URL for links in responses; default: the origin of the request. */
  publicUrl?: string;
  limits: ApiLimits;
  logger: Logger;
}

export const DEFAULT_LIMITS: ApiLimits = {
  maxJsonBytes: 64 * 1024,
  maxConfigBytes: 1024 * 1024,
  maxUploadBytes: 2 ** 40,
};

/** The embedded relay takes bodies itself, at `PUT /v1/changes/{id}/body` with the node's bearer token. */
export const relayUploadTarget: UploadTargetFactory = async (entry, apiBase) => ({
  method: 'PUT',
  url: `${apiBase}/v1/changes/${entry.id}/body`,
  headers: { 'content-type': 'application/octet-stream' },
});
