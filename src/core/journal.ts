import type { ByteStream } from './bytes.js';
import type { EntryRef, JournalEntry } from './entry.js';
import type { LaneId } from './lane.js';
import type { LaneSummary } from './lane-index.js';

export interface BodyDigest {
  size: number;
  sha256: string;
}

export interface ListOptions {
  /** Only entries whose id sorts after this one (a pagination cursor). */
  after?: string;
  limit?: number;
}

export interface CreateOptions {
  /**
   * false: the entries need not survive a crash yet (uploads AWAITING_BODY, which become durable when they are
   * published). Default true.
   */
  durable?: boolean;
}

/**
 * The durable journal: `multi_journal/<lane>/<id>/config.XML` (+ `upload`). Implemented on a local folder and on
 * S3; the conformance suite in test/ holds both to the same behaviour. Every method that resolves has made its
 * effect durable (a crash afterwards cannot undo it), except where an option or comment says otherwise.
 */
/** A body read back from the journal: streamed, or whole when it is small (at most SMALL_BODY_BYTES). */
export type StoredBody = ByteStream | Uint8Array;

/** The largest body a store may hand out as one buffer instead of a stream. */
export const SMALL_BODY_BYTES = 256 * 1024;

export interface JournalStore {
  /** Writes new entries (config.XML only). All-or-nothing per entry; entries are independent. */
  create(entries: readonly JournalEntry[], options?: CreateOptions): Promise<void>;
  read(ref: EntryRef): Promise<JournalEntry | undefined>;
  /**
   * Rewrites an existing entry's config.XML atomically. What an entry is — its id, lane, peer, action, path, target
   * and createdAt — never changes: updates change its state (status, attempts, errors, release, digest). The
   * replayer's sweep and the backlog figures compare lanes by counts that rely on this.
   */
  update(entry: JournalEntry): Promise<void>;
  /** A lane's entries, oldest first. */
  list(lane: LaneId, options?: ListOptions): Promise<JournalEntry[]>;
  /** Every lane that holds at least one entry. */
  lanes(): Promise<LaneId[]>;
  /**
   * Optional, for stores that index their entries in memory: a lane's counts without listing it, in O(1). The
   * operator views take the backlog from it when a lane holds only PENDING entries (the common case), since
   * metrics scrapes and `GET /v1/peers` ask for it often, on lanes of any length.
   */
  summary?(lane: LaneId): LaneSummary | undefined;
  /**
   * Optional, with `summary`: a lane's entries oldest first without copying them, for read-only walks (the
   * backlog of a lane that holds something stuck). Do not keep or modify what it yields, or write to the journal
   * while iterating.
   */
  scan?(lane: LaneId): Iterable<JournalEntry>;
  /** Removes the entry and its body. Purging a missing entry is not an error (replay is idempotent). */
  purge(ref: EntryRef): Promise<void>;
  /**
   * Optional, for a journal several processes write (S3): removes the entry and its body only if, read now, it
   * passes `still`, and nobody rewrites it before it is removed (a conditional delete). False, and nothing
   * removed, otherwise. Without it the caller's own lock has to do (one process: the folder journal).
   */
  purgeIf?(ref: EntryRef, still: (entry: JournalEntry) => boolean): Promise<boolean>;
  /**
   * Why the store acknowledges no change any more until a restart (a write or an fsync of the folder journal's log
   * failed: fail-stop), or undefined while it does. `/healthz` reports it. Stores without such a state omit it.
   */
  failure?(): string | undefined;

  /**
   * Streams a body into the entry's `upload` file, hashing as it goes; refuses (PayloadTooLargeError) and keeps
   * nothing once more than `maxBytes` arrive. The body becomes durable when the entry is published.
   */
  writeBody(ref: EntryRef, body: ByteStream, maxBytes: number): Promise<BodyDigest>;
  /** Size and SHA-256 of a stored body, or undefined when there is none. */
  bodyDigest(ref: EntryRef): Promise<BodyDigest | undefined>;
  /**
   * Publishes uploads: makes the body written to `bodyFrom` durable, gives every entry's lane its copy, then
   * writes each entry (now PENDING). No entry reads PENDING before its body is complete and durable; when the
   * promise resolves, all of it survives a crash.
   */
  publish(entries: readonly JournalEntry[], bodyFrom: EntryRef): Promise<void>;
  /**
   * Optional fast path for small uploads (at most SMALL_BODY_BYTES): journals `entries` (PENDING, one per lane)
   * with their body already received and verified, in one durable step. Stores without it are given
   * create + writeBody + publish. The store may keep `body` (serving it until it is on disk): do not modify it.
   */
  createWithBody?(entries: readonly JournalEntry[], body: Uint8Array, digest: BodyDigest): Promise<void>;
  discardBody(ref: EntryRef): Promise<void>;
  /**
   * The stored body: a stream, or (stores may choose, for small bodies only) the bytes themselves, which saves a
   * stream per replay. Memory stays bounded either way: a store buffers at most SMALL_BODY_BYTES per call. Given
   * the whole entry, a store whose bodies can be replaced behind its back (S3: a presigned URL) hands out only the
   * body verified at commit, else throws BodyChangedError.
   */
  readBody(ref: EntryRef & Pick<Partial<JournalEntry>, 'bodyEtag' | 'size' | 'sha256'>): Promise<StoredBody>;

  /** The newest id anywhere in the journal, to seed the stamp clock after a restart. */
  newestId(): Promise<string | undefined>;
  close(): Promise<void>;
}
