import { ReplayStoppedError } from '../../adapters/sqs-doorbell/replay-handler.js';
import type { EntryRef, JournalEntry } from '../../core/entry.js';
import { NotFoundError } from '../../core/errors.js';
import type { JournalStore } from '../../core/journal.js';
import { overlaps } from '../../core/journal-view.js';
import { KeyedMutex } from '../../core/keyed-mutex.js';
import type { Logger } from '../../core/logger.js';
import type { Peer, PeerStatus, ReplayOutcome } from '../../core/peer.js';
import { replayLogFields, settleAttempt, unexpectedOutcome } from '../../core/replay-outcome.js';
import type { ReplayReport } from '../../core/replayer.js';
import type { EntryClaim, EntryClaims } from './entry-claims.js';
import { type LaneListing, LaneListings } from './lane-listings.js';
import { firstBlocker } from './lane-order.js';
import type { WaitList } from './wait-list.js';

/** What one doorbell message came to. Every one of them acknowledges the message; only a throw retries it. */
export type ReplayDecision =
  /** Applied to the peer and purged; its waiters were re-rung. */
  | 'applied'
  /** The peer refused it or it cannot be replayed: CONFLICT or FAILED, for an operator. */
  | 'parked'
  /**
   * Not applied, still PENDING: the peer was unreachable or refused our credentials (re-driven when it is back),
   * or it failed this change while it kept answering (re-driven by the next sweep: that is the retry's delay).
   */
  | 'peer-failed'
  /** An older overlapping entry is unfinished: registered on its wait list, re-rung when it completes. */
  | 'deferred'
  /** Not in the journal (already applied, or skipped): a duplicate or late message. */
  | 'gone'
  /** CONFLICT, FAILED or AWAITING_BODY: nothing to do until an operator or the node acts. */
  | 'not-pending'
  /** The peer is OFFLINE or UNAUTHORIZED: left PENDING; the ping re-drives its backlog when it is back. */
  | 'peer-down'
  /**
   * Another process holds the entry's claim and replays it now: it completes the entry (or, had it died, the
   * sweep re-drives the entry once the claim has expired).
   */
  | 'busy'
  /** The journal names a peer this configuration does not have. */
  | 'unknown-peer';

export interface PeerHealthView {
  status(peer: string): Promise<PeerStatus>;
  record(peer: string, outcome: ReplayOutcome): Promise<unknown>;
  /**
   * Probes the peer now and records what it found (the replay policy asks when an answer alone cannot tell);
   * a peer that asked to wait (Retry-After) is not probed before its time: its current status.
   */
  probeStatus(peer: string): Promise<PeerStatus>;
  /** Whether the peer applied some other change after `since`, as far as this process saw. */
  appliedSince(peer: string, since: string | undefined): boolean;
}

export interface CloudReplayWorkerOptions {
  store: JournalStore;
  peers: ReadonlyMap<string, Peer>;
  health: PeerHealthView;
  waitList: WaitList;
  /** Which process replays an entry (see EntryClaims); without it, only deliveries in this process take turns. */
  claims?: EntryClaims;
  /** Rings entries again because `cause` happened (the SQS doorbell's redrive). */
  redrive: (refs: readonly EntryRef[], cause: string) => Promise<unknown>;
  logger: Logger;
  onReplay?: (report: ReplayReport) => void;
  now?: () => Date;
  /** Attempts in a row that fail the same way while the peer otherwise works, before parking (default 5). */
  maxRepeats?: number;
  /** A monotonic clock in milliseconds (default performance.now). */
  monotonic?: () => number;
}

/** Registering on a blocker races with its completion; after this many rounds the sweep settles it. */
const CHECK_ROUNDS = 3;
/** Entries looked at per listing when deciding whose waiters to re-ring (more: each one's wait list is listed). */
const RELEASE_PAGE = 500;

/** The replays of one SQS batch (one Lambda invocation): see CloudReplayWorker.batch. */
export interface ReplayBatch {
  replay(ref: EntryRef): Promise<ReplayDecision>;
  /**
   * Re-rings whatever waited for the entries this batch completed so far, while others still run (a long upload
   * must not hold back the waiters of the rest); never throws (the sweep is the backstop).
   */
  settle(): Promise<void>;
  /** Re-rings whatever waited for the entries this batch completed; never throws (the sweep is the backstop). */
  finish(): Promise<void>;
}

/** What the replays of one batch share. */
interface BatchState {
  /** When the batch arrived (monotonic): lane listings taken since then show its entries. */
  since: number;
  /** Entries this batch applied and purged: their waiters are re-rung at its end. */
  completed: JournalEntry[];
  /** Entries whose message came when they were gone: a crash between purge and release may have left waiters. */
  gone: EntryRef[];
}

/**
 * Replays one entry per doorbell message, with the journal as the only state: check the lane's older entries for
 * an overlap (the embedded replayer's rule), apply, record the outcome, purge, wake waiters. Safe to run in any
 * number of processes at once and for duplicate messages: what decides is the journal.
 *
 * The entries of a batch replay concurrently and share one listing of their lane, taken after the batch arrived
 * (LaneListings); an entry blocked by an older one that this process is replaying waits for it here, instead of
 * registering on its wait list and being re-rung.
 */
export class CloudReplayWorker {
  private readonly now: () => Date;
  private readonly monotonic: () => number;
  /** Deliveries of the same entry in this process, one after another (see replay). */
  private readonly perEntry = new KeyedMutex();
  /** The replays running in this process, by `lane/id`: what a newer overlapping entry may wait for here. */
  private readonly running = new Map<string, Promise<unknown>>();
  private readonly listings: LaneListings;
  /** Aborted when the process gives up the replays still running (see abandon). */
  private readonly stopping = new AbortController();

  constructor(private readonly options: CloudReplayWorkerOptions) {
    this.now = options.now ?? (() => new Date());
    this.monotonic = options.monotonic ?? (() => performance.now());
    this.listings = new LaneListings(options.store, this.monotonic);
  }

  /**
   * The replays of one batch. Two deliveries of one entry can arrive at once (its own message and a re-drive):
   * in one process they take turns, and across processes the entry's claim lets one of them apply it; either way
   * the other finds it purged or busy.
   */
  batch(): ReplayBatch {
    const state: BatchState = { since: this.monotonic(), completed: [], gone: [] };
    return {
      replay: (ref) =>
        this.perEntry.run(`${ref.lane}/${ref.id}`, () => {
          const key = `${ref.lane}/${ref.id}`;
          const replaying = this.replayOnce(ref, state);
          this.running.set(key, replaying);
          return replaying.finally(() => this.running.delete(key));
        }),
      settle: () => this.releaseWaiters(taken(state)),
      finish: () => this.releaseWaiters(taken(state)),
    };
  }

  /**
   * Stops the replays in flight (shutting down, once their grace is over): their requests to the peers are aborted,
   * nothing of their outcome is recorded (an aborted request says nothing about the peer or the entry: recorded, it
   * marked a healthy peer OFFLINE for every process), and each ends with ReplayStoppedError, so that its message
   * goes back to the queue. Deliveries that start afterwards stop at once the same way.
   */
  abandon(): void {
    this.stopping.abort();
  }

  /** One delivery of a doorbell message, as a batch of its own. */
  async replay(ref: EntryRef): Promise<ReplayDecision> {
    const batch = this.batch();
    try {
      return await batch.replay(ref);
    } finally {
      await batch.finish();
    }
  }

  private async replayOnce(ref: EntryRef, batch: BatchState): Promise<ReplayDecision> {
    const { logger } = this.options;
    if (this.stopping.signal.aborted) throw new ReplayStoppedError();
    const listing = await this.listings.covering(ref, batch.since);
    const entry = listing.find(ref.id);
    if (!entry) {
      // A crash between purge and release leaves waiters registered: the late or repeated message frees them.
      batch.gone.push(ref);
      logger.debug('doorbell for an entry no longer in the journal', { entryId: ref.id, lane: ref.lane });
      return 'gone';
    }
    if (entry.status !== 'PENDING') return 'not-pending';
    const peer = this.options.peers.get(entry.peer);
    if (!peer) {
      logger.warn('journal holds entries for a peer that is not configured; they wait', {
        peer: entry.peer,
        lane: entry.lane,
        entryId: entry.id,
      });
      return 'unknown-peer';
    }
    if ((await this.options.health.status(entry.peer)) !== 'ONLINE') return 'peer-down';
    const blocker = await this.blockerOf(entry, listing);
    if (blocker) {
      logger.debug('waits behind an older overlapping entry', {
        entryId: entry.id,
        lane: entry.lane,
        blockedBy: blocker.id,
      });
      return 'deferred';
    }
    const { claims } = this.options;
    if (!claims) return this.apply(peer, entry, batch);
    const claim = await claims.take(entry);
    if (!claim) {
      logger.debug('another process is replaying this entry', { entryId: entry.id, lane: entry.lane });
      return 'busy';
    }
    // Whether the entry was rewritten since a listing might have shown it: by this delivery (parked, or a failed
    // attempt recorded; when unsure, as if it had) or before it took the claim (the note stays for the next taker).
    let rewritten = claim.rewritten;
    // Left for an operator (parked by this delivery, or found so under the claim).
    let leftParked = false;
    try {
      const current = await this.underClaim(entry, listing, claims.keptMs, claim.rewritten);
      if (!current) return 'gone';
      if (current.status !== 'PENDING') {
        leftParked = true;
        return 'not-pending';
      }
      rewritten = true;
      const decision = await this.apply(peer, current, batch, claim);
      rewritten = claim.rewritten || decision === 'parked' || decision === 'peer-failed';
      leftParked = decision === 'parked';
      return decision;
    } finally {
      // A rewritten entry's claim leaves a note: a delivery in another process whose listing predates the rewrite
      // takes the note and reads the entry again, instead of replaying what it listed (a CONFLICT, say).
      await claim.release({ entryRewritten: rewritten }).catch((error: unknown) =>
        // Deliveries of this entry answer `busy` until the claim expires; the sweep deletes it once the entry is gone.
        logger.warn('could not release the claim on an entry', { entryId: entry.id, lane: entry.lane, error }),
      );
      if (leftParked) await this.recheck(entry);
    }
  }

  /**
   * An operator's retry of an entry this delivery held while leaving it parked rang a delivery that found the claim
   * taken (`busy`) and stood back: nobody would replay the entry until the sweep. Read it once more after the
   * release, and ring it again if it is PENDING now.
   */
  private async recheck(ref: EntryRef): Promise<void> {
    try {
      const now = await this.options.store.read(ref);
      if (now?.status !== 'PENDING') return;
      this.listings.markRewritten(now);
      await this.options.redrive([ref], `recheck.${Date.now()}`);
    } catch (error) {
      this.options.logger.warn('could not look at a parked entry again; the sweep will', {
        entryId: ref.id,
        lane: ref.lane,
        error,
      });
    }
  }

  /**
   * The entry as it is once claimed. A process that completed it keeps its claim (EntryClaims.keptMs), so a claim
   * taken within that time of the listing was never held by a process that completed the entry after the listing;
   * one that rewrote it left a note, and the claim says so (`rewritten`). Otherwise the listing is still right, and
   * saves a GET. Later than that, or after a rewrite, the entry is read again.
   */
  private async underClaim(
    entry: JournalEntry,
    listing: LaneListing,
    keptMs: number,
    rewritten: boolean,
  ): Promise<JournalEntry | undefined> {
    if (!rewritten && this.monotonic() - listing.startedAt < keptMs) return entry;
    const current = await this.options.store.read(entry);
    if (!current) this.listings.markGone(entry);
    return current;
  }

  /**
   * The oldest older entry that overlaps `entry`, after registering `entry` as its waiter. Register, then look
   * again: either the blocker's completion (purge, then a look at its waiters) sees the registration, or this
   * second look sees the blocker gone — S3 is strongly consistent, so one of the two always happens. A blocker
   * this process is replaying is waited for here instead.
   */
  private async blockerOf(entry: JournalEntry, listing: LaneListing): Promise<JournalEntry | undefined> {
    for (let round = 0; ; ) {
      const blocker = firstBlocker(entry, listing.olderThan(entry.id));
      if (!blocker) return undefined;
      const replaying = this.running.get(`${blocker.lane}/${blocker.id}`);
      if (replaying) {
        // Older than `entry`: whatever it waits for is older still, so these waits never form a cycle.
        await replaying.catch(() => undefined);
        continue;
      }
      await this.options.waitList.add({ lane: blocker.lane, id: blocker.id }, { lane: entry.lane, id: entry.id });
      if (await this.options.store.read(blocker)) return blocker;
      this.listings.markGone(blocker);
      if (++round >= CHECK_ROUNDS) return blocker;
    }
  }

  private async apply(peer: Peer, entry: JournalEntry, batch: BatchState, claim?: EntryClaim): Promise<ReplayDecision> {
    const { store, logger } = this.options;
    const claimed = claim ? AbortSignal.any([claim.signal, this.stopping.signal]) : this.stopping.signal;
    const started = performance.now();
    const attempt = await peer
      .apply(entry, () => store.readBody(entry), claimed)
      .catch((error: unknown) => {
        // S3 failed to hand us the body (throttling, an outage): retry the message rather than park the entry.
        if (isServiceError(error) && !claimed.aborted) throw error;
        return unexpectedOutcome(error);
      });
    const durationMs = performance.now() - started;
    if (this.stopping.signal.aborted) throw new ReplayStoppedError();
    if (claimed.aborted) {
      // The claim was lost meanwhile: the entry is another process's now. Its outcome (say, the dropped request
      // read as "offline") says nothing about the peer or the entry, so nothing is recorded.
      return this.claimLost(entry, { durationMs: Math.round(durationMs) });
    }
    const { health } = this.options;
    const settled = await settleAttempt(entry, attempt, {
      probe: () => health.probeStatus(entry.peer),
      appliedSince: (since) => health.appliedSince(entry.peer, since),
      at: this.now(),
      maxRepeats: this.options.maxRepeats,
    });
    if (this.stopping.signal.aborted) throw new ReplayStoppedError();
    if (settled.health) await health.record(entry.peer, settled.health);
    const { outcome } = settled;
    if (claimed.aborted) {
      // Lost while the outcome was settled (a probe can take a while): the entry is another process's now, and
      // neither a purge nor a park of it is this delivery's to write.
      return this.claimLost(entry, { outcome: outcome.kind });
    }
    this.options.onReplay?.({ entry, outcome, durationMs });
    const fields = replayLogFields(entry, outcome, durationMs);
    if (outcome.kind === 'applied') {
      await store.purge(entry);
      this.listings.markGone(entry);
      // Kept, not deleted: a late delivery of the entry finds it and stands back (see underClaim).
      claim?.keep();
      batch.completed.push(entry);
      logger.info('replayed', { ...fields, detail: outcome.detail });
      return 'applied';
    }
    const parked = settled.entry!;
    try {
      await store.update(parked);
      this.listings.markRewritten(parked);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error; // skipped by an operator meanwhile
      this.listings.markGone(parked);
    }
    const log = parked.status === 'PENDING' ? logger.info : logger.warn;
    log.call(logger, 'replay did not apply', {
      ...fields,
      status: parked.status,
      reason: parked.lastError,
      ...(parked.repeats !== undefined && { repeats: parked.repeats }),
    });
    return parked.status === 'PENDING' ? 'peer-failed' : 'parked';
  }

  /** A replay that stops because its claim was lost: said once, nothing else recorded. */
  private claimLost(entry: JournalEntry, fields: Record<string, unknown>): ReplayDecision {
    this.options.logger.warn('replay stopped: the claim on this entry was lost', {
      entryId: entry.id,
      lane: entry.lane,
      peer: entry.peer,
      ...fields,
    });
    return 'busy';
  }

  /**
   * Re-rings whatever waited for the entries the batch completed. Only a newer entry that overlaps a completed one
   * can have waited for it, and such a waiter is still in the journal (PENDING) after the purge: one listing of
   * the newer entries, taken after the purges, tells whose wait list to look at, instead of one look per entry.
   */
  private async releaseWaiters(batch: Pick<BatchState, 'completed' | 'gone'>): Promise<void> {
    const byLane = new Map<string, JournalEntry[]>();
    for (const entry of batch.completed) byLane.set(entry.lane, [...(byLane.get(entry.lane) ?? []), entry]);
    try {
      for (const [lane, completed] of byLane) {
        const oldest = completed.reduce((a, b) => (a.id < b.id ? a : b));
        const newer = await this.options.store.list(lane, { after: oldest.id, limit: RELEASE_PAGE });
        const seenAll = newer.length < RELEASE_PAGE;
        for (const done of completed) {
          if (!seenAll || newer.some((n) => n.id > done.id && overlaps(n, done))) await this.release(done);
        }
      }
      for (const ref of batch.gone) await this.release(ref);
    } catch (error) {
      this.options.logger.warn('could not re-ring the entries waiting for completed ones; the sweep will', {
        error,
      });
    }
  }

  /** Re-rings whatever waited for `blocker`; each waiter checks the journal again when its message arrives. */
  private async release(blocker: EntryRef): Promise<void> {
    const waiters = await this.options.waitList.take(blocker);
    if (waiters.length > 0) await this.options.redrive(waiters, `after.${blocker.id}`);
  }
}

/** What a batch completed since last asked, taken out of it (each entry's waiters are re-rung once). */
function taken(state: BatchState): Pick<BatchState, 'completed' | 'gone'> {
  return { completed: state.completed.splice(0), gone: state.gone.splice(0) };
}

/** An error answered by an AWS service (the SDK attaches `$metadata`); the peer adapter classifies its own. */
function isServiceError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && '$metadata' in error;
}
