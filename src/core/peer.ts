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
  /**
   * The peer asked the relay to wait (429 or 503 with `Retry-After`): it stays OFFLINE until then — answers to
   * requests already in flight do not bring it back early — and is probed at once when the time has come.
   */
  retryAt?: string;
}

/** Peer health as the API needs it: read the state, force a probe. */
export interface PeerMonitor {
  state(peer: string): Promise<PeerState>;
  /** Probes the peer now; if it answers, its backlog drains. */
  ping(peer: string): Promise<PeerState>;
}

/**
 * What the peer said, as data: the replay policy (src/core/replay-outcome.ts) branches on these fields, never on
 * the wording of `reason`, which is for people (and is cut to 500 characters when stored).
 */
export interface PeerAnswer {
  /** The HTTP status of the answer that decided the outcome, when the peer answered at all. */
  status?: number;
  /** The network error code when it did not (`ECONNREFUSED`, `UND_ERR_SOCKET`, `UND_ERR_HEADERS_TIMEOUT`, ...). */
  code?: string;
}

/** How one replay attempt (or probe) ended. The replayer's whole policy branches on `kind` and the answer. */
export type ReplayOutcome =
  | { kind: 'applied'; detail?: string }
  /** Refused connection, reset, timeout, 5xx, 408, 429: the peer could not take it now; try again later. */
  | ({ kind: 'offline'; reason: string; retryAfterMs?: number } & PeerAnswer)
  /** 401/403: the credentials are refused — or, if a probe of the base URL passes, only this path is. */
  | ({ kind: 'unauthorized'; reason: string } & PeerAnswer)
  /** The peer refused this change (409, 412, rename source missing, ...): park it for an operator. */
  | ({ kind: 'conflict'; reason: string } & PeerAnswer)
  /** The entry itself cannot be replayed (e.g. its body is unreadable): FAILED, needs an operator. */
  | { kind: 'bad_entry'; reason: string }
  /** Not sent: the delete guard holds it (a folder with too many entries on the peer): HELD, for an operator. */
  | { kind: 'held'; reason: string };

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
