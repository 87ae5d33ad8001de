import type { LaneId } from './lane.js';
import { orderKey } from './paths.js';

/** What a node can ask to replicate through `POST /v1/changes`. */
export const FILE_ACTIONS = ['upload', 'makedir', 'delete', 'rename', 'mdtm'] as const;
/** Configuration documents (`PUT|DELETE /v1/config/{scope}/{name}`), journaled beside file changes. */
export const CONFIG_ACTIONS = ['config_put', 'config_delete'] as const;
export const ACTIONS = [...FILE_ACTIONS, ...CONFIG_ACTIONS] as const;
export type FileAction = (typeof FILE_ACTIONS)[number];
export type Action = (typeof ACTIONS)[number];

export const CONFIG_SCOPES = ['users', 'groups', 'prefs', 'jobs', 'events', 'shares'] as const;
export type ConfigScope = (typeof CONFIG_SCOPES)[number];
/** Reserved for the relay on every peer: no file change may touch it (400 RESERVED_PATH). */
export const RESERVED_ROOT = '/.vfs-relay';
/**
 * True for a path at or below RESERVED_ROOT as any peer may read it: on a case-insensitive one (Windows, macOS)
 * `/.VFS-Relay/` is the same folder, and Windows drops trailing dots and spaces from a name (`/.vfs-relay./`).
 */
export function isReservedPath(path: string): boolean {
  const first = path.split('/', 2)[1] ?? '';
  return first.replace(/[. ]+$/, '').toLowerCase() === RESERVED_ROOT.slice(1);
}

/** Where configuration documents live on a peer, and the path that orders them in their lane. */
export const CONFIG_ROOT = `${RESERVED_ROOT}/config`;

/** Statuses written in config.XML. */
export const STORED_STATUSES = ['AWAITING_BODY', 'PENDING', 'CONFLICT', 'FAILED', 'HELD'] as const;
export type StoredStatus = (typeof STORED_STATUSES)[number];
/**
 * What operators see: BLOCKED is derived (a PENDING entry behind an overlapping CONFLICT, FAILED, HELD or
 * AWAITING_BODY one).
 */
export const ENTRY_STATUSES = [...STORED_STATUSES, 'BLOCKED'] as const;
export type EntryStatus = (typeof ENTRY_STATUSES)[number];

/** Addresses one entry: `multi_journal/<lane>/<id>/`. */
export interface EntryRef {
  readonly lane: LaneId;
  /** The change's stamp; the same for every lane the change was journaled in. */
  readonly id: string;
}

/**
 * One change for one peer: everything needed to replay it, and nothing secret (no peer URL credentials, no
 * passwords, no tokens). Serialised as `config.XML` by src/core/entry-xml.ts.
 */
export interface JournalEntry extends EntryRef {
  peer: string;
  /** The replicated VFS location the path lies in (`config:` for configuration documents). */
  location: string;
  action: Action;
  path: string;
  /** rename only: the new path. */
  target?: string;
  /** upload and config_put: body length in bytes. */
  size?: number;
  /** upload and config_put: SHA-256 of the body, lowercase hex (declared by the node or computed). */
  sha256?: string;
  /** mdtm: the modification time to set (ISO 8601); for uploads, optional. */
  modified?: string;
  /** Who made the change on the node (never the replication user: those changes are not journaled). */
  user?: string;
  /** The node (token name) that reported the change. */
  node?: string;
  /** config documents: media type of the body. */
  contentType?: string;
  /**
   * Resync jobs only (src/core/jobs/): the job that wrote the entry (upload, makedir or delete). A job entry
   * replays only while its job runs, and never over a path a live change touched after the job started.
   */
  job?: string;
  /**
   * A job's upload: the source (a `sources` entry or a peer) its body is read from at replay; the journal holds
   * no body for it.
   */
  from?: string;
  /** A job's upload: the source's ETag when the job compared; another one at replay means the source changed. */
  fromEtag?: string;
  /** Job entries: the peer's ETag when the job compared; the write is refused (412) if the peer changed since. */
  ifMatch?: string;
  /** Job entries: `*` when the peer had nothing at the path; the write is refused if something is there now. */
  ifNoneMatch?: '*';
  /**
   * HELD entries: which rule of the delete guard held it — `window` (its node sent more than `maxDeletes` deletes
   * within `windowSeconds`) or `folder` (the folder holds more than `maxDeletes` entries on the peer). Kept after a
   * release, as a record.
   */
  hold?: HoldRule;
  /** An operator released the entry from the delete guard: it replays without being counted again. */
  released?: boolean;
  createdAt: string;
  status: StoredStatus;
  attempts: number;
  lastError?: string;
  lastAttemptAt?: string;
  /** The HTTP status of the last attempt that did not apply, when the peer answered one. */
  lastStatus?: number;
  /** The network error code of the last attempt that did not apply, when the peer gave no answer. */
  lastCode?: string;
  /**
   * Attempts in a row that failed the same way (same lastStatus / lastCode) while the peer otherwise worked (a
   * probe passed, other changes applied): at the replay policy's cap the entry is parked instead of retried.
   */
  repeats?: number;
  /**
   * Cloud journal: the ETag of this entry's `upload` object as verified at commit. Replay reads exactly that
   * version (a body replaced afterwards is refused, and the entry FAILED).
   */
  bodyEtag?: string;
}

/** The delete guard's rules (docs/delete-guard.md). */
export const HOLD_RULES = ['window', 'folder'] as const;
export type HoldRule = (typeof HOLD_RULES)[number];

export function isUploadLike(action: Action): boolean {
  return action === 'upload' || action === 'config_put';
}

/**
 * Every path an entry touches — its path, and for a rename its target too — as the replay order compares them
 * (orderKey: one case, NFC). Two entries whose lists overlap (same path, ancestor or descendant) replay oldest first.
 */
export function touchedPaths(entry: Pick<JournalEntry, 'path' | 'target'>): string[] {
  return entry.target ? [orderKey(entry.path), orderKey(entry.target)] : [orderKey(entry.path)];
}
