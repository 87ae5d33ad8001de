import { releaseStream } from './bytes.js';
import type { Doorbell } from './doorbell.js';
import { type EntryRef, isUploadLike, type JournalEntry, touchedPaths } from './entry.js';
import { NotFoundError } from './errors.js';
import { type JournalStore, SMALL_BODY_BYTES, type StoredBody } from './journal.js';
import type { LaneId } from './lane.js';
import { LaneIndex, type LaneSummary } from './lane-index.js';
import type { Logger } from './logger.js';
import { PathMarks, pathPrefixes, StringPool } from './path-marks.js';
import type { Peer, ReplayOutcome } from './peer.js';
import type { PeerHealth } from './peer-health.js';
import { replayLogFields, settleAttempt, unexpectedOutcome } from './replay-outcome.js';

export interface ReplayReport {
  entry: JournalEntry;
  outcome: ReplayOutcome;
  durationMs: number;
}

export interface ReplayerOptions {
  store: JournalStore;
  peers: ReadonlyMap<string, Peer>;
  health: PeerHealth;
  logger: Logger;
  /** Requests in flight per peer (default 8). */
  concurrency?: number;
  /** Told about every attempt (metrics, tests). */
  onReplay?: (report: ReplayReport) => void;
  /** autoPlay (CONTRACT): called when a new entry arrives for a peer that is not ONLINE. */
  onEntryForDownPeer?: (peer: string) => void;
  now?: () => Date;
  /** Attempts in a row that fail the same way while the peer otherwise works, before parking (default 5). */
  maxRepeats?: number;
  /**
   * An entry that failed while its peer stayed ONLINE is tried again after this delay, doubled for each further
   * such failure up to `retryMaxMs` (defaults 1 s and 60 s).
   */
  retryBaseMs?: number;
  retryMaxMs?: number;
}

interface LaneState {
  lane: LaneId;
  peer: string;
  index: LaneIndex;
  inFlight: Set<string>;
  /** Replays of this lane finished so far: a listing taken while one finished may still hold a purged entry. */
  finished: number;
  /**
   * Whether the lane's latest walk (schedule) passed over a PENDING entry only because an older unfinished entry
   * overlaps it. Only then can a purge let something go that the walk before it did not (see dispatch).
   */
  heldBack: boolean;
  /** The oldest entries of the lane that cannot be sent until one of them changes or stops waiting (see StuckFront). */
  front: StuckFront | undefined;
}

/**
 * The lane's oldest entries, every one of them unsendable until one of them changes or stops waiting: not
 * PENDING (parked, held, awaiting its body), PENDING but waiting (in flight, or backing off after a failure), or
 * overlapping an older one of them. A folder delete parked as CONFLICT — or slow to answer, or failing while the peer
 * is up — with a busy tree below it puts thousands of entries there, and every dispatch walked them all again
 * (10,000 of them made each replayed file of the lane cost ~12–21 ms of CPU instead of ~0.1 ms); a walk now starts
 * after them, with their paths marked once. Any change to an entry up to `lastId`, or the end of an entry's wait
 * (its replay finishing, its backoff running out), cuts it back to before that entry (see dropFrontAt); entries
 * after it that join it later (more entries below the folder, once what was sendable before them went) are added
 * by the next walk.
 */
interface StuckFront {
  lastId: string;
  marks: PathMarks;
  /** Some PENDING entry in it is held back by overlap. */
  heldBack: boolean;
  /**
   * Its waiting entries, oldest first, each with the front as it was just before it joined: when one stops
   * waiting (or anything at or after it changes), the front is cut back to there instead of dropped, so the stuck
   * entries before it are not walked again — an in-flight file behind a parked folder delete ends often.
   */
  waits: FrontCut[];
}

/** Where a stuck front can be cut back to: its state before the waiting entry `id` joined it. */
interface FrontCut {
  id: string;
  point: number;
  lastId: string;
  heldBack: boolean;
}

/** An entry that failed while its peer stayed ONLINE waits before it is tried again. */
interface Backoff {
  failures: number;
  until: number;
  timer: ReturnType<typeof setTimeout>;
}

/** A small body read ahead of its entry's turn (see Replayer.prefetch). */
interface Prefetched {
  peer: string;
  body: Promise<StoredBody | undefined>;
}

/**
 * Replays the journal to the peers. Per lane, oldest first: an entry is sent once no older unfinished entry of
 * its lane overlaps its paths (same path, ancestor or descendant, rename source or target); entries on unrelated
 * paths go out in parallel, up to `concurrency` per peer. A CONFLICT or FAILED entry holds back only what overlaps
 * it. An OFFLINE or UNAUTHORIZED peer gets nothing until a ping finds it ONLINE.
 *
 * It is also the in-process doorbell: `ring` tells it about new or changed entries. It keeps a copy of every
 * unfinished entry's metadata; `sweep` rebuilds that copy from the journal, the source of truth.
 */
export class Replayer implements Doorbell {
  private readonly lanes = new Map<LaneId, LaneState>();
  private readonly active = new Map<string, number>();
  private readonly running = new Set<Promise<void>>();
  private readonly concurrency: number;
  private readonly now: () => Date;
  private readonly warnedPeers = new Set<string>();
  /** Bodies read ahead, by lane/id: at most `concurrency` per peer, each at most SMALL_BODY_BYTES. */
  private readonly prefetched = new Map<string, Prefetched>();
  /** How many of `prefetched` each peer has (asked on every dispatch). */
  private readonly prefetchedPerPeer = new Map<string, number>();
  /** Entries waiting before their next attempt, by lane/id (in memory: a restart tries them at once). */
  private readonly backoff = new Map<string, Backoff>();
  private stopped = false;

  constructor(private readonly options: ReplayerOptions) {
    this.concurrency = options.concurrency ?? 8;
    this.now = options.now ?? (() => new Date());
    options.health.onChange((peer, state) => {
      if (state.status === 'ONLINE') this.schedulePeer(peer);
    });
  }

  async ring(refs: readonly EntryRef[]): Promise<void> {
    const lanes = new Set<LaneState>();
    for (const ref of refs) {
      const state = await this.refresh(ref);
      if (state) lanes.add(state);
    }
    for (const state of lanes) {
      // Not a peer that asked to wait (Retry-After): a probe now would end its wait with the first new change.
      const { health } = this.options;
      if (health.current(state.peer) !== 'ONLINE' && !health.waiting(state.peer)) {
        this.options.onEntryForDownPeer?.(state.peer);
      }
      this.schedule(state);
    }
  }

  /** Learns of entries that are not ready yet (AWAITING_BODY): what overlaps them waits behind them. */
  async announce(refs: readonly EntryRef[]): Promise<void> {
    for (const ref of refs) await this.refresh(ref);
  }

  /**
   * Loads every entry of the journal that is not known yet (start-up, lost rings), forgets what the journal no
   * longer holds, and dispatches. It runs on every ping tick, so on a long backlog it must not cost the backlog: a
   * lane whose counts in the store match this copy's (entries, PENDING bytes, not-PENDING entries, oldest and
   * newest id, and a checksum over every entry's id, status, attempts, size and release) is taken as known; any
   * other is compared entry by entry in id order, reading the store's entries without copying them (`scan`), and
   * only what differs is copied. Listing and re-setting a lane of a million entries took 2–3 s per tick, during
   * which the relay did nothing else.
   */
  async sweep(): Promise<void> {
    const { store } = this.options;
    const lanes = await store.lanes();
    for (const lane of lanes) {
      const summary = store.summary?.(lane);
      const known = this.lanes.get(lane);
      if (summary && known && sameCounts(summary, known.index.summary())) {
        this.schedule(known);
        continue;
      }
      await this.sweepLane(lane);
    }
    // Lanes missing from the list: purged empty behind the replayer's back, or (rung meanwhile) new since.
    const listed = new Set(lanes);
    for (const state of [...this.lanes.values()]) if (!listed.has(state.lane)) await this.sweepLane(state.lane);
  }

  /** Compares one lane with the journal and dispatches. */
  private async sweepLane(lane: LaneId): Promise<void> {
    const { store } = this.options;
    const finishedBefore = this.lanes.get(lane)?.finished ?? 0;
    const listed = store.scan ? undefined : await store.list(lane);
    // A scan is walked once: ask for a new one each time.
    const entries = (): Iterable<JournalEntry> => listed ?? store.scan!(lane);
    let first: JournalEntry | undefined;
    for (const entry of entries()) {
      first = entry;
      break;
    }
    const state = first ? this.laneState(lane, first.peer) : this.lanes.get(lane);
    if (!state) return;
    // A replay that finished while the listing was on its way may have purged an entry the listing still holds:
    // setting it again would send it twice (an old delete after a newer upload). The next sweep compares again.
    if (listed && state.finished !== finishedBefore) {
      this.schedule(state);
      return;
    }
    this.reconcile(state, entries(), listed === undefined);
    this.schedule(state);
  }

  /**
   * Makes the lane's copy hold what `stored` holds (in id order), leaving entries in flight alone. With `copy`,
   * `stored` is the store's own objects: what is taken is copied, and nothing is changed while walking it.
   */
  private reconcile(state: LaneState, stored: Iterable<JournalEntry>, copy: boolean): void {
    const toSet: JournalEntry[] = [];
    const toDelete: JournalEntry[] = [];
    const known = state.index.values();
    let k = known.next();
    for (const entry of stored) {
      while (!k.done && k.value.id < entry.id) {
        toDelete.push(k.value);
        k = known.next();
      }
      const same = !k.done && k.value.id === entry.id;
      if (!same || !shallowEqual(k.value, entry)) toSet.push(copy ? { ...entry } : entry);
      if (same) k = known.next();
    }
    for (; !k.done; k = known.next()) toDelete.push(k.value);
    for (const entry of toSet) if (!state.inFlight.has(entry.id)) setEntry(state, entry);
    for (const entry of toDelete) {
      if (state.inFlight.has(entry.id)) continue;
      deleteEntry(state, entry.id);
      this.dropPrefetched(refKey(entry));
      this.clearBackoff(refKey(entry));
    }
  }

  /** Dispatches whatever each lane of `peer` can send now (after a ping, or when capacity frees up). */
  schedulePeer(peer: string): void {
    for (const state of this.lanes.values()) if (state.peer === peer) this.schedule(state);
  }

  /** Entries currently being sent. */
  get inFlight(): number {
    return this.running.size;
  }

  /** Stops dispatching and waits (at most `graceMs`) for the requests in flight. Abandoning them is safe. */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopped = true;
    for (const key of [...this.prefetched.keys()]) this.dropPrefetched(key);
    for (const key of [...this.backoff.keys()]) this.clearBackoff(key);
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
    await Promise.race([Promise.allSettled([...this.running]), timeout]);
  }

  private async refresh(ref: EntryRef): Promise<LaneState | undefined> {
    const finishedBefore = this.lanes.get(ref.lane)?.finished;
    let entry = await this.options.store.read(ref);
    const state = this.lanes.get(ref.lane) ?? (entry ? this.laneState(ref.lane, entry.peer) : undefined);
    if (!state) return undefined;
    // A replay of the entry may have ended while it was read (as for a sweep's listing): a copy read before its purge
    // would be put back and sent again. Read once more when a replay of the lane finished meanwhile.
    if (entry && finishedBefore !== undefined && state.finished !== finishedBefore && !state.inFlight.has(ref.id)) {
      entry = await this.options.store.read(ref);
    }
    if (state.inFlight.has(ref.id)) {
      // Skipped (or purged) while its request is out: its paths hold back what overlaps it until the request has
      // ended, as for any entry in flight (the replay then finds it gone and forgets it). Forgotten now, a newer
      // change to its path could be sent first and then be undone by it.
      return state;
    }
    if (!entry) {
      deleteEntry(state, ref.id);
      this.dropPrefetched(refKey(ref));
      this.clearBackoff(refKey(ref));
    } else setEntry(state, entry);
    return state;
  }

  private laneState(lane: LaneId, peer: string): LaneState {
    let state = this.lanes.get(lane);
    if (!state) {
      state = {
        lane,
        peer,
        index: new LaneIndex(),
        inFlight: new Set(),
        finished: 0,
        heldBack: false,
        front: undefined,
      };
      this.lanes.set(lane, state);
    }
    return state;
  }

  private schedule(state: LaneState): void {
    if (this.stopped || this.options.health.current(state.peer) !== 'ONLINE') return;
    if (!this.options.peers.has(state.peer)) {
      if (!this.warnedPeers.has(state.peer)) {
        this.warnedPeers.add(state.peer);
        this.options.logger.warn('journal holds entries for a peer that is not configured; they wait', {
          peer: state.peer,
          lane: state.lane,
        });
      }
      return;
    }
    let capacity = this.concurrency - (this.active.get(state.peer) ?? 0);
    let lookahead = this.concurrency - this.prefetchedFor(state.peer);
    if (capacity <= 0 && lookahead <= 0) return;
    const ready: JournalEntry[] = [];
    const ahead: JournalEntry[] = [];
    // The stuck front is stepped over (kept from earlier walks while it holds, and grown by what joined it since).
    state.front = stuckFront(state.index, state.front, (entry, key) => this.waiting(state, entry, key));
    const { front } = state;
    const stuck = front?.marks;
    const older = new PathMarks();
    let heldBack = front?.heldBack ?? false;
    for (const entry of front ? state.index.valuesAfter(front.lastId) : state.index.values()) {
      if (capacity <= 0 && lookahead <= 0) break;
      const { key, paths } = shapeOf(entry);
      const waiting = this.waiting(state, entry, key);
      const sendable = entry.status === 'PENDING' && !waiting;
      if (sendable && paths.some((p) => older.overlapsPrefixes(p) || stuck?.overlapsPrefixes(p) === true)) {
        heldBack = true;
      } else if (sendable) {
        if (capacity > 0) {
          ready.push(entry);
          capacity -= 1;
        } else if (lookahead > 0 && this.wantsPrefetch(entry, key)) {
          ahead.push(entry);
          lookahead -= 1;
        } else if (lookahead > 0 && !this.prefetched.has(key)) {
          // A ready entry whose body is not read ahead (large, or a resync's copy) still counts against the
          // lookahead: without it, a lane of such entries was scanned to its end on every dispatch.
          lookahead -= 1;
        }
      }
      for (const prefixes of paths) older.addPrefixes(prefixes);
    }
    state.heldBack = heldBack;
    for (const entry of ready) this.dispatch(state, entry);
    for (const entry of ahead) this.prefetch(entry);
  }

  /**
   * Reads the body of an entry that is next in line while the peer's slots are busy, so that reading the journal
   * overlaps the requests in flight instead of adding to them. Only small bodies (bounded memory); a body never
   * changes once published, so a copy read ahead stays right until its entry is purged or skipped.
   */
  private wantsPrefetch(entry: JournalEntry, key: string): boolean {
    // A resync's copy (`from`) has no body in the journal: it is read from its source at replay.
    return (
      isUploadLike(entry.action) &&
      entry.from === undefined &&
      (entry.size ?? 0) <= SMALL_BODY_BYTES &&
      !this.prefetched.has(key)
    );
  }

  private prefetch(entry: JournalEntry): void {
    const { key } = shapeOf(entry);
    if (this.prefetched.has(key)) return;
    const body = this.options.store.readBody(entry).catch(() => undefined); // the dispatch reads it again
    this.prefetched.set(key, { peer: entry.peer, body });
    this.prefetchedPerPeer.set(entry.peer, this.prefetchedFor(entry.peer) + 1);
  }

  private prefetchedFor(peer: string): number {
    return this.prefetchedPerPeer.get(peer) ?? 0;
  }

  /** Takes a body read ahead out of the map (its peer's count follows); undefined when there is none. */
  private takePrefetched(key: string): Prefetched | undefined {
    const ahead = this.prefetched.get(key);
    if (!ahead) return undefined;
    this.prefetched.delete(key);
    this.prefetchedPerPeer.set(ahead.peer, this.prefetchedFor(ahead.peer) - 1);
    return ahead;
  }

  /** The body read ahead for `entry` (once), else a fresh read from the journal. */
  private async openBody(entry: JournalEntry): Promise<StoredBody> {
    const ahead = this.takePrefetched(shapeOf(entry).key);
    if (ahead) {
      const body = await ahead.body;
      if (body) return body;
    }
    return this.options.store.readBody(entry);
  }

  private dropPrefetched(key: string): void {
    const ahead = this.takePrefetched(key);
    if (!ahead) return;
    void ahead.body.then((body) => {
      if (body && !(body instanceof Uint8Array)) releaseStream(body);
    });
  }

  /**
   * The peer's slot is held while the peer works on the entry; the entry itself stays in flight (its paths busy)
   * until the journal has recorded the outcome, so nothing overlapping overtakes it, while unrelated entries use
   * the freed slot.
   */
  private dispatch(state: LaneState, entry: JournalEntry): void {
    state.inFlight.add(entry.id);
    this.active.set(state.peer, (this.active.get(state.peer) ?? 0) + 1);
    let slotHeld = true;
    const releaseSlot = () => {
      if (!slotHeld) return;
      slotHeld = false;
      this.active.set(state.peer, (this.active.get(state.peer) ?? 1) - 1);
      this.schedulePeer(state.peer);
    };
    let purged = false;
    const task = this.replay(state, entry, releaseSlot)
      .then(
        (done) => {
          purged = done;
        },
        (error: unknown) => {
          this.options.logger.error('replay bookkeeping failed', { entryId: entry.id, lane: entry.lane, error });
          // The journal could not record the outcome (disk full, I/O error): the entry waits (1 s, 2 s, 4 s, …)
          // before it is sent again, instead of going straight back to the peer, over and over.
          this.backOff(state, entry);
        },
      )
      .finally(() => {
        state.inFlight.delete(entry.id);
        // It no longer waits: the front is cut back to before it. (Purged or skipped, it was cut at its removal.)
        if (state.index.get(entry.id)) dropFrontAt(state, entry.id);
        state.finished += 1;
        this.running.delete(task);
        // Releasing a still-held slot schedules every lane of the peer, this one included. A slot released before
        // a purge walked the lane already, with this entry still holding its paths: walk again only if that walk,
        // or a later one, held something back by overlap (this entry's paths may have been why). A walk that
        // stopped early, before reaching such an entry, stopped because every slot of the peer was taken: each of
        // those requests walks the lane again when it releases its slot, after this purge.
        if (slotHeld) releaseSlot();
        else if (!purged || state.heldBack) this.schedule(state);
      });
    this.running.add(task);
  }

  /** Sends one entry and records the outcome; true once the entry is purged (applied). */
  private async replay(state: LaneState, entry: JournalEntry, releaseSlot: () => void): Promise<boolean> {
    const { health, store, logger } = this.options;
    const peer = this.options.peers.get(entry.peer)!;
    const started = performance.now();
    const attempt = await peer.apply(entry, () => this.openBody(entry)).catch(unexpectedOutcome);
    const durationMs = performance.now() - started;
    if (this.stopped && attempt.kind !== 'applied') {
      // Ended after stop(): cut off by the shutdown (the peers are closed under it), it says nothing about the
      // peer or the entry, which stays as it is in the journal and goes again at the next start.
      this.dropPrefetched(shapeOf(entry).key);
      return false;
    }
    this.dropPrefetched(shapeOf(entry).key); // unused when the attempt stopped before the body
    const settled = await settleAttempt(entry, attempt, {
      probe: () => health.probeStatus(entry.peer),
      appliedSince: (since) => health.appliedSince(entry.peer, since),
      at: this.now(),
      maxRepeats: this.options.maxRepeats,
    });
    if (settled.health) health.record(entry.peer, settled.health);
    const { outcome } = settled;
    if (outcome.kind === 'applied') releaseSlot();
    this.options.onReplay?.({ entry, outcome, durationMs });
    const fields = replayLogFields(entry, outcome, durationMs);
    if (outcome.kind === 'applied') {
      this.clearBackoff(shapeOf(entry).key);
      await store.purge(entry);
      deleteEntry(state, entry.id);
      logger.info('replayed', { ...fields, detail: outcome.detail });
      return true;
    }
    const parked = settled.entry!;
    try {
      await store.update(parked);
      setEntry(state, parked);
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      deleteEntry(state, entry.id); // skipped by an operator while in flight
    }
    if (settled.retryLater) this.backOff(state, parked);
    else this.clearBackoff(refKey(entry));
    const log = parked.status === 'PENDING' ? logger.info : logger.warn;
    log.call(logger, 'replay did not apply', {
      ...fields,
      status: parked.status,
      reason: parked.lastError,
      ...(parked.repeats !== undefined && { repeats: parked.repeats }),
    });
    return false;
  }

  /**
   * The peer stayed ONLINE but this entry failed: it waits (1 s, 2 s, 4 s, ... up to retryMaxMs) while the rest
   * of its lane goes on; what overlaps it still waits behind it.
   */
  private backOff(state: LaneState, entry: JournalEntry): void {
    const key = refKey(entry);
    // Stopped, or the entry is gone (skipped while its request was out): nothing will wait for the timer.
    if (this.stopped || !state.index.get(entry.id)) return;
    const failures = (this.backoff.get(key)?.failures ?? 0) + 1;
    this.clearBackoff(key);
    const base = this.options.retryBaseMs ?? 1000;
    const delay = Math.min(base * 2 ** Math.min(failures - 1, 30), this.options.retryMaxMs ?? 60_000);
    const timer = setTimeout(() => {
      // Timers may fire a little before `until` by the wall clock: the wait is over now, whatever it says.
      const waiting = this.backoff.get(key);
      if (waiting) waiting.until = 0;
      dropFrontAt(state, entry.id); // sendable again: the front it waited in no longer holds
      this.schedule(state);
    }, delay);
    timer.unref();
    this.backoff.set(key, { failures, until: Date.now() + delay, timer });
  }

  /** An entry that is PENDING and still cannot be sent: in flight, or backing off after a failure. */
  private waiting(state: LaneState, entry: JournalEntry, key: string): boolean {
    return state.inFlight.has(entry.id) || this.backingOff(key);
  }

  private backingOff(key: string): boolean {
    const waiting = this.backoff.get(key);
    return waiting !== undefined && waiting.until > Date.now();
  }

  private clearBackoff(key: string): void {
    const waiting = this.backoff.get(key);
    if (!waiting) return;
    clearTimeout(waiting.timer);
    this.backoff.delete(key);
  }
}

/**
 * Cuts the lane's stuck front back to before `id` if it reaches it (something in it changed, or stopped waiting):
 * to its state before the latest waiting entry at or before `id` joined it, or to nothing when there is none (a
 * front that begins with a waiting entry has no cut for it). What the front holds before the cut never depends on
 * what comes at or after `id`.
 */
function dropFrontAt(state: LaneState, id: string): void {
  const front = state.front;
  if (!front || id > front.lastId) return;
  let k = front.waits.length - 1;
  while (k >= 0 && front.waits[k]!.id > id) k--;
  const cut = front.waits[k]; // none: the front began at or after `id`
  if (!cut) {
    state.front = undefined;
    return;
  }
  front.marks.rollback(cut.point);
  front.lastId = cut.lastId;
  front.heldBack = cut.heldBack;
  front.waits.length = k;
}

/** Sets an entry in the lane's copy; a change at or before the stuck front's last entry cuts the front back. */
function setEntry(state: LaneState, entry: JournalEntry): void {
  dropFrontAt(state, entry.id);
  state.index.set(entry);
}

/** Removes an entry from the lane's copy (see setEntry; removing one it does not hold changes nothing). */
function deleteEntry(state: LaneState, id: string): void {
  if (state.index.get(id)) dropFrontAt(state, id);
  state.index.delete(id);
}

/**
 * The lane's stuck front (see StuckFront) — `known` and what joined it since — or none. `waiting`: whether a
 * PENDING entry cannot be sent yet (in flight, backing off), as the walk itself decides it.
 */
function stuckFront(
  index: LaneIndex,
  known: StuckFront | undefined,
  waiting: (entry: JournalEntry, key: string) => boolean,
): StuckFront | undefined {
  // Grown in place; made (with its marks) only once an entry joins it: most walks find a sendable entry first.
  let front = known;
  for (const entry of front ? index.valuesAfter(front.lastId) : index.values()) {
    const { key, paths } = shapeOf(entry);
    const marks = front?.marks;
    const overlaps = marks !== undefined && paths.some((p) => marks.overlapsPrefixes(p));
    const pending = entry.status === 'PENDING';
    const waits = pending && waiting(entry, key);
    if (pending && !overlaps && !waits) break; // sendable, now or once what is in flight is done
    if (!front) front = { lastId: entry.id, marks: new PathMarks(), heldBack: false, waits: [] };
    else if (waits) {
      front.waits.push({
        id: entry.id,
        point: front.marks.checkpoint(),
        lastId: front.lastId,
        heldBack: front.heldBack,
      });
    }
    if (pending && overlaps && !waits) front.heldBack = true; // as the walk counts it
    for (const prefixes of paths) front.marks.addPrefixes(prefixes);
    front.lastId = entry.id;
  }
  return front;
}

function refKey(ref: EntryRef): string {
  return `${ref.lane}/${ref.id}`;
}

/** What every dispatch asks of an entry: its key, and the prefixes of the paths it touches (see PathMarks). */
interface EntryShape {
  key: string;
  paths: string[][];
}

/**
 * Shapes by entry object: a dispatch walks the entries in flight and next in line, and each release of a peer's
 * slot dispatches again, so the same few entries are asked about many times. An entry updated in the index is a
 * new object and gets a new shape.
 */
const shapes = new WeakMap<JournalEntry, EntryShape>();

/** The prefixes of every entry's paths, interned: entries in one folder share their ancestors' strings. */
const prefixStrings = new StringPool();

/**
 * Interned in place, and the lists below built with loops, not `map`: `map`'s result is a packed array when the
 * builtin runs, a holey one once TurboFan inlines it into an optimized caller, and lists of both kinds reaching
 * the dispatch's optimized code deoptimized it ("wrong map") whenever the mix changed (when a drain starts).
 */
function internedPrefixes(path: string): string[] {
  const prefixes = pathPrefixes(path);
  for (let i = 0; i < prefixes.length; i++) prefixes[i] = prefixStrings.intern(prefixes[i]!);
  return prefixes;
}

function shapeOf(entry: JournalEntry): EntryShape {
  let shape = shapes.get(entry);
  if (!shape) {
    const paths: string[][] = [];
    for (const path of touchedPaths(entry)) paths.push(internedPrefixes(path));
    shape = { key: refKey(entry), paths };
    shapes.set(entry, shape);
  }
  return shape;
}

/** The store's counts for a lane against the replayer's copy of it. */
function sameCounts(stored: LaneSummary, known: LaneSummary): boolean {
  return (
    stored.entries === known.entries &&
    stored.checksum === known.checksum &&
    stored.notPending === known.notPending &&
    stored.pendingBytes === known.pendingBytes &&
    stored.oldest?.id === known.oldest?.id &&
    stored.newest === known.newest
  );
}

/** Two flat entries with the same fields and values. */
function shallowEqual(a: JournalEntry, b: JournalEntry): boolean {
  const keys = Object.keys(a) as (keyof JournalEntry)[];
  if (keys.length !== Object.keys(b).length) return false;
  for (const key of keys) if (a[key] !== b[key]) return false;
  return true;
}
