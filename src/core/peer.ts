import type { JournalEntry } from './entry.js';
import type { StoredBody } from './journal.js';

/** How the relay sees a peer right now. */
export const PEER_STATUSES = ['ONLINE', 'OFFLINE', 'UNAUTHORIZED'] as const;
export type PeerStatus = (typeof PEER_STATUSES)[number];

export interface PeerState {
  status: PeerStatus;
  /** When the peer was last probed. */
  lastPingAt?: string;
  /** Since when it has this status. */
  since?: string;
  /** Why it is not ONLINE (no secrets: status line or network error code). */
  lastError?: string;
}

/** Peer health as the API needs it: read the state, force a probe. */
export interface PeerMonitor {
  state(peer: string): Promise<PeerState>;
  /** Probes the peer now; if it answers, its backlog drains. */
  ping(peer: string): Promise<PeerState>;
}

/** How one replay attempt (or probe) ended. The replayer's whole policy branches on `kind`. */
export type ReplayOutcome =
  | { kind: 'applied'; detail?: string }
  /** Refused connection, reset, timeout, 5xx: try again after a ping. */
  | { kind: 'offline'; reason: string }
  /** 401/403: the credentials are wrong; nothing is retried until they are fixed. */
  | { kind: 'unauthorized'; reason: string }
  /** The peer refused this change (409, 412, rename source missing, ...): park it for an operator. */
  | { kind: 'conflict'; reason: string }
  /** The entry itself cannot be replayed (e.g. its body is unreadable): FAILED, needs an operator. */
  | { kind: 'bad_entry'; reason: string };

/** A secondary server as the replayer sees it. Adapters: WebDAV. */
export interface Peer {
  readonly name: string;
  /** A cheap request that tells whether the peer is reachable and accepts our credentials. */
  probe(): Promise<ReplayOutcome>;
  /**
   * Applies one entry. Idempotent: re-applying an entry that was applied just before a crash counts as applied.
   * `openBody` opens the journal's copy of the body (uploads and config documents), once per attempt. Once
   * `signal` is aborted no further request is sent and the one in flight is dropped; the outcome is then
   * meaningless (the caller no longer owns the entry) — a request the peer already received may still apply.
   */
  apply(entry: JournalEntry, openBody: () => Promise<StoredBody>, signal?: AbortSignal): Promise<ReplayOutcome>;
  close(): Promise<void>;
}
