import type { EntryRef, JournalEntry } from '../../core/entry.js';
import { NotFoundError } from '../../core/errors.js';
import type { JournalStore } from '../../core/journal.js';
import { KeyedMutex } from '../../core/keyed-mutex.js';
import type { Logger } from '../../core/logger.js';
import type { Peer, PeerStatus, ReplayOutcome } from '../../core/peer.js';
import { replayLogFields, settleAttempt, unexpectedOutcome } from '../../core/replay-outcome.js';
import type { ReplayReport } from '../../core/replayer.js';
import type { EntryClaims } from './entry-claims.js';
import { firstBlocker, olderEntries } from './lane-order.js';
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
}

/** Registering on a blocker races with its completion; after this many rounds the sweep settles it. */
const CHECK_ROUNDS = 3;

/**
 * Replays one entry per doorbell message, with the journal as the only state: read the entry, check the lane's
 * older entries for an overlap (the embedded replayer's rule), apply, record the outcome, purge, wake waiters.
 * Safe to run in any number of processes at once and for duplicate messages: what decides is the journal.
 */
export class CloudReplayWorker {
  private readonly now: () => Date;
  /** Deliveries of the same entry in this process, one after another (see replay). */
  private readonly perEntry = new KeyedMutex();

  constructor(private readonly options: CloudReplayWorkerOptions) {
    this.now = options.now ?? (() => new Date());
  }

  /**
   * One delivery of a doorbell message. Two deliveries of one entry can arrive at once (its own message and the
   * re-drive by the entry it waited behind, in another message group): in one process they take turns, and across
   * processes the entry's claim lets one of them apply it; either way the other finds it purged or busy.
   */
  replay(ref: EntryRef): Promise<ReplayDecision> {
    return this.perEntry.run(`${ref.lane}/${ref.id}`, () => this.replayOnce(ref));
  }

  private async replayOnce(ref: EntryRef): Promise<ReplayDecision> {
    const { store, logger } = this.options;
    const entry = await store.read(ref);
    if (!entry) {
      // A crash between purge and release leaves waiters registered: the late or repeated message frees them.
      await this.release(ref);
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
    const blocker = await this.blockerOf(entry);
    if (blocker) {
      logger.debug('waits behind an older overlapping entry', {
        entryId: entry.id,
        lane: entry.lane,
        blockedBy: blocker.id,
      });
      return 'deferred';
    }
    const { claims } = this.options;
    if (!claims) return this.apply(peer, entry);
    const claim = await claims.take(entry);
    if (!claim) {
      logger.debug('another process is replaying this entry', { entryId: entry.id, lane: entry.lane });
      return 'busy';
    }
    try {
      // Read again under the claim: a holder that finished just before purged it (purge comes before release).
      const current = await store.read(entry);
      if (!current) return 'gone';
      if (current.status !== 'PENDING') return 'not-pending';
      return await this.apply(peer, current, claim.signal);
    } finally {
      await claim.release().catch((error: unknown) =>
        // Deliveries of this entry answer `busy` until the claim expires; the sweep deletes it once the entry is gone.
        logger.warn('could not release the claim on an entry', { entryId: entry.id, lane: entry.lane, error }),
      );
    }
  }

  /**
   * The oldest older entry that overlaps `entry`, after registering `entry` as its waiter. Register, then look
   * again: either the blocker's completion (purge, then take its waiters) sees the registration, or this second
   * look sees the blocker gone — S3 is strongly consistent, so one of the two always happens.
   */
  private async blockerOf(entry: JournalEntry): Promise<JournalEntry | undefined> {
    let blocker: JournalEntry | undefined;
    for (let round = 0; round < CHECK_ROUNDS; round++) {
      blocker = firstBlocker(entry, await olderEntries(this.options.store, entry));
      if (!blocker) return undefined;
      await this.options.waitList.add({ lane: blocker.lane, id: blocker.id }, { lane: entry.lane, id: entry.id });
      if (await this.options.store.read(blocker)) return blocker;
    }
    return blocker;
  }

  private async apply(peer: Peer, entry: JournalEntry, claimed?: AbortSignal): Promise<ReplayDecision> {
    const { store, logger } = this.options;
    const started = performance.now();
    const attempt = await peer
      .apply(entry, () => store.readBody(entry), claimed)
      .catch((error: unknown) => {
        // S3 failed to hand us the body (throttling, an outage): retry the message rather than park the entry.
        if (isServiceError(error) && !claimed?.aborted) throw error;
        return unexpectedOutcome(error);
      });
    const durationMs = performance.now() - started;
    if (claimed?.aborted) {
      // The claim was lost meanwhile: the entry is another process's now. Its outcome (say, the dropped request
      // read as "offline") says nothing about the peer or the entry, so nothing is recorded.
      logger.warn('replay stopped: the claim on this entry was lost', {
        entryId: entry.id,
        lane: entry.lane,
        peer: entry.peer,
        durationMs: Math.round(durationMs),
      });
      return 'busy';
    }
    const { health } = this.options;
    const settled = await settleAttempt(entry, attempt, {
      probe: () => health.probeStatus(entry.peer),
      appliedSince: (since) => health.appliedSince(entry.peer, since),
      at: this.now(),
      maxRepeats: this.options.maxRepeats,
    });
    if (settled.health) await health.record(entry.peer, settled.health);
    const { outcome } = settled;
    this.options.onReplay?.({ entry, outcome, durationMs });
    const fields = replayLogFields(entry, outcome, durationMs);
    if (outcome.kind === 'applied') {
      await store.purge(entry);
      await this.release(entry);
      logger.info('replayed', { ...fields, detail: outcome.detail });
      return 'applied';
    }
    const parked = settled.entry!;
    try {
      await store.update(parked);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error; // skipped by an operator meanwhile
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

  /** Re-rings whatever waited for `blocker`; each waiter checks the journal again when its message arrives. */
  private async release(blocker: EntryRef): Promise<void> {
    const waiters = await this.options.waitList.take(blocker);
    if (waiters.length > 0) await this.options.redrive(waiters, `after.${blocker.id}`);
  }
}

/** An error answered by an AWS service (the SDK attaches `$metadata`); the peer adapter classifies its own. */
function isServiceError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && '$metadata' in error;
}
