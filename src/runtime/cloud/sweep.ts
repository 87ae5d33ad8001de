import type { EntryRef, JournalEntry } from '../../core/entry.js';
import type { JournalStore } from '../../core/journal.js';
import { deriveLane, type LaneBacklog, emptyBacklog as nothingWaiting } from '../../core/journal-view.js';
import type { LaneId } from '../../core/lane.js';
import type { Logger } from '../../core/logger.js';
import type { PeerState } from '../../core/peer.js';
import { isStamp, stampTime } from '../../core/stamp.js';
import type { EntryClaims } from './entry-claims.js';
import { readyEntries } from './lane-order.js';
import type { SharedPeerHealth } from './shared-health.js';
import type { WaitList } from './wait-list.js';

/** S3's clock and ours may differ by this much (Last-Modified against Date.now()). */
const CLAIM_CLOCK_SLACK_MS = 60_000;

/**
 * A peer is probed once this share of its ping interval has passed since its last probe: a schedule that fires every
 * interval must not skip every second probe to jitter. (The CDK app sizes the offline alarms by it.)
 */
export const PING_DUE_FRACTION = 0.9;

export interface QueueFigures {
  visible: number;
  inFlight: number;
  delayed: number;
}

export interface CloudSweeperOptions {
  store: JournalStore;
  health: SharedPeerHealth;
  peers: readonly { name: string; pingIntervalSeconds: number }[];
  redrive: (refs: readonly EntryRef[], cause: string) => Promise<number>;
  /** The doorbell queue's message counts; undefined when it cannot be read (then the queue counts as busy). */
  queueDepth: () => Promise<QueueFigures>;
  waitList: WaitList;
  /** Entry claims: those of entries no longer in the journal are deleted by each sweep. */
  claims?: EntryClaims;
  logger: Logger;
  /** A ready entry not announced for this long is re-driven even while the queue is busy (default 900 s). */
  redriveAfterSeconds?: number;
  /** At most this many re-drives per sweep, oldest first (default 1000). */
  maxRedrive?: number;
  /** A peer that came back ONLINE less than this long ago gets its whole ready backlog driven (default 240 s). */
  onlineDriveSeconds?: number;
  /** Drops the idle ones among the uploads still waiting for their body (UploadExpiry.expireFound). */
  expireUploads?: (awaiting: readonly JournalEntry[]) => Promise<number>;
  now?: () => Date;
}

export interface PeerBacklog extends LaneBacklog {
  peer: string;
  status: PeerState['status'];
  /** PENDING entries nothing holds back. */
  ready: number;
  redriven: number;
}

export interface SweepReport {
  peers: PeerBacklog[];
  queue: QueueFigures | undefined;
  redriven: number;
  released: number;
  /** Claims of entries no longer in the journal, deleted. */
  orphanClaims: number;
  /** Uploads dropped because their body never came (see UploadExpiry). */
  expiredUploads: number;
}

interface Candidate {
  entry: JournalEntry;
  cause: string;
}

/**
 * The cloud's scheduled duty (the ping Lambda, or a timer in `vfs-relay serve`): ping the peers that are down,
 * then re-drive every ready PENDING entry that has no message in flight — lost rings, expired messages, entries
 * acknowledged while their peer was down — oldest first, and log the backlog.
 *
 * "No message in flight" is judged without a ledger: when the queue is empty nothing is in flight, so every
 * ready entry is re-driven; while it is busy, only entries not announced for `redriveAfterSeconds`. A peer that
 * came back gets its whole ready backlog (its messages were acknowledged while it was down). A duplicate costs
 * one read: the worker finds the entry gone, or applies it once more (idempotent).
 */
export class CloudSweeper {
  private readonly now: () => Date;
  private readonly redriveAfterMs: number;

  constructor(private readonly options: CloudSweeperOptions) {
    this.now = options.now ?? (() => new Date());
    this.redriveAfterMs = (options.redriveAfterSeconds ?? 900) * 1000;
  }

  async run(): Promise<SweepReport> {
    const started = performance.now();
    const states = await this.pingDuePeers();
    const queue = await this.options.queueDepth().catch((error: unknown) => {
      this.options.logger.warn('cannot read the queue depth; re-driving stale entries only', { error });
      return undefined;
    });
    const idle = queue !== undefined && queue.visible + queue.inFlight + queue.delayed === 0;
    const now = this.now().getTime();
    const bucket = Math.floor(now / this.redriveAfterMs);
    const backlogs = new Map<string, PeerBacklog>();
    const candidates: Candidate[] = [];
    const present = new Map<LaneId, Set<string>>();
    const awaiting: JournalEntry[] = [];
    const listedFrom = Date.now();

    for (const lane of await this.options.store.lanes()) {
      const entries = await this.options.store.list(lane);
      present.set(lane, new Set(entries.map((e) => e.id)));
      if (entries.length === 0) continue;
      const peer = entries[0]!.peer;
      const state = states.get(peer) ?? { status: 'OFFLINE' as const };
      const backlog = backlogs.get(peer) ?? emptyBacklog(peer, state);
      backlogs.set(peer, backlog);
      for (const view of deriveLane(entries)) count(backlog, view.view, view);
      for (const entry of entries) if (entry.status === 'AWAITING_BODY') awaiting.push(entry);
      const ready = readyEntries(entries);
      backlog.ready += ready.length;
      if (state.status !== 'ONLINE') continue;
      const cameOnline = state.since !== undefined && now - Date.parse(state.since) < this.onlineDriveMs();
      for (const entry of ready) {
        if (cameOnline) candidates.push({ entry, cause: `online.${compact(state.since!)}` });
        else if (idle) {
          // Nothing in flight: a cause of its own each minute, so that an entry whose last ring found it busy (a
          // claim left by a process that died) is rung again as soon as the claim is free, not five minutes later
          // when SQS forgets the first ring. A change the peer failed waits out its backoff (1, 2, 4 … minutes).
          if (!entry.repeats || retryDue(entry, now, this.redriveAfterMs)) {
            candidates.push({ entry, cause: `idle.${Math.floor(now / 60_000)}` });
          }
        } else if (now - lastAnnounced(entry) >= this.redriveAfterMs) {
          candidates.push({ entry, cause: `sweep.${bucket}` });
        } else if (retryDue(entry, now, this.redriveAfterMs)) {
          candidates.push({ entry, cause: `retry.${entry.attempts}` });
        }
      }
    }

    const expiredUploads = await this.expireUploads(awaiting);
    const released = await this.releaseOrphans(present, listedFrom);
    // Claims written before the lanes were listed (an entry created since cannot be mistaken for a gone one), and
    // long enough before: a completed entry's claim is kept to turn late deliveries away (EntryClaims.keptMs).
    // Housekeeping: a failure here must not keep the sweep from re-driving.
    const orphanClaims = await (
      this.options.claims?.removeOrphans(
        (ref) => present.get(ref.lane)?.has(ref.id) ?? false,
        new Date(listedFrom - CLAIM_CLOCK_SLACK_MS - this.options.claims.orphanAfterMs),
      ) ?? Promise.resolve(0)
    ).catch((error: unknown) => {
      this.options.logger.warn('could not remove the claims of finished entries; the next sweep tries again', {
        error,
      });
      return 0;
    });
    candidates.sort((a, b) => (a.entry.id < b.entry.id ? -1 : a.entry.id > b.entry.id ? 1 : 0));
    const chosen = candidates.slice(0, this.options.maxRedrive ?? 1000);
    let redriven = 0;
    for (const [cause, refs] of groupBy(chosen, (c) => c.cause)) {
      redriven += await this.options.redrive(
        refs.map((c) => c.entry),
        cause,
      );
    }
    for (const { entry } of chosen) {
      const backlog = backlogs.get(entry.peer);
      if (backlog) backlog.redriven += 1;
    }
    const report = { peers: [...backlogs.values()], queue, redriven, released, orphanClaims, expiredUploads };
    this.log(report, performance.now() - started);
    return report;
  }

  /** Rings every ready entry of `peer` (an operator's ping found it online: drain). */
  async drive(peer: string, cause: string): Promise<number> {
    let driven = 0;
    for (const lane of await this.options.store.lanes()) {
      const entries = await this.options.store.list(lane);
      if (entries[0]?.peer !== peer) continue;
      driven += await this.options.redrive(readyEntries(entries), cause);
    }
    return driven;
  }

  private async pingDuePeers(): Promise<Map<string, PeerState>> {
    const states = new Map<string, PeerState>();
    const now = this.now().getTime();
    for (const { name, pingIntervalSeconds } of this.options.peers) {
      let state = await this.options.health.state(name);
      const lastPing = state.lastPingAt ? Date.parse(state.lastPingAt) : 0;
      // Due at PING_DUE_FRACTION of the interval. A peer that asked to wait (Retry-After) is probed once the wait
      // is over, and not before. An ONLINE peer is probed too: one that went down while nothing was replayed would
      // show ONLINE until the next change.
      const retryAt = state.retryAt === undefined ? undefined : Date.parse(state.retryAt);
      const due =
        retryAt !== undefined ? now >= retryAt : now - lastPing >= pingIntervalSeconds * 1000 * PING_DUE_FRACTION;
      if (due) {
        state = await this.options.health.ping(name);
      }
      states.set(name, state);
    }
    return states;
  }

  /** Housekeeping too: a failure is logged and the next sweep tries again. */
  private async expireUploads(awaiting: readonly JournalEntry[]): Promise<number> {
    if (!this.options.expireUploads || awaiting.length === 0) return 0;
    return this.options.expireUploads(awaiting).catch((error: unknown) => {
      this.options.logger.warn('could not expire idle uploads; the next sweep tries again', { error });
      return 0;
    });
  }

  /**
   * Waiters whose blocker is no longer in the journal (a skip, a crash before the release): ring them. A blocker
   * stamped after the lanes were listed (less the clock slack between processes) may have been created since, and
   * is left to the next sweep: taking it for gone would ring its waiter early and drop a registration its own
   * completion still needs. The ring's cause is its own: `after.<blocker>` is what the blocker's completion rings
   * with, and SQS would drop that as a duplicate of this one for five minutes.
   */
  private async releaseOrphans(present: Map<LaneId, Set<string>>, listedFrom: number): Promise<number> {
    const listedBefore = (id: string) => !isStamp(id) || stampTime(id).getTime() < listedFrom - CLAIM_CLOCK_SLACK_MS;
    const orphans = (await this.options.waitList.all()).filter(
      (w) => !present.get(w.blocker.lane)?.has(w.blocker.id) && listedBefore(w.blocker.id),
    );
    if (orphans.length === 0) return 0;
    for (const [blocker, waiting] of groupBy(orphans, (w) => w.blocker.id)) {
      await this.options.redrive(
        waiting.map((w) => w.waiter),
        `orphan.${blocker}`,
      );
    }
    await this.options.waitList.remove(orphans);
    return orphans.length;
  }

  private onlineDriveMs(): number {
    return (this.options.onlineDriveSeconds ?? 240) * 1000;
  }

  private log(report: SweepReport, durationMs: number): void {
    for (const backlog of report.peers) {
      this.options.logger.info('backlog', {
        ...backlog,
        oldestPendingAgeSeconds: backlog.oldestPendingAt
          ? Math.round((this.now().getTime() - Date.parse(backlog.oldestPendingAt)) / 1000)
          : 0,
      });
    }
    this.options.logger.info('sweep', {
      redriven: report.redriven,
      released: report.released,
      orphanClaims: report.orphanClaims,
      expiredUploads: report.expiredUploads,
      queueVisible: report.queue?.visible,
      queueInFlight: report.queue?.inFlight,
      durationMs: Math.round(durationMs),
    });
  }
}

function emptyBacklog(peer: string, state: PeerState): PeerBacklog {
  return {
    peer,
    status: state.status,
    ...nothingWaiting(),
    ready: 0,
    redriven: 0,
  };
}

/** The same figures as `GET /v1/peers` (JournalView.backlog). */
function count(b: PeerBacklog, view: string, entry: JournalEntry): void {
  if (view === 'AWAITING_BODY') b.awaitingBody += 1;
  else if (view === 'CONFLICT') b.conflicts += 1;
  else if (view === 'FAILED') b.failed += 1;
  else if (view === 'HELD') b.held += 1;
  else {
    if (view === 'BLOCKED') b.blocked += 1;
    b.pending += 1;
    b.pendingBytes += entry.size ?? 0;
    if (!b.oldestPendingAt || entry.createdAt < b.oldestPendingAt) b.oldestPendingAt = entry.createdAt;
  }
}

/** When the entry was last announced, as far as the journal knows: created (rung) or last attempted. */
function lastAnnounced(entry: JournalEntry): number {
  return Math.max(Date.parse(entry.createdAt), entry.lastAttemptAt ? Date.parse(entry.lastAttemptAt) : 0);
}

/**
 * A change the peer failed while it stayed ONLINE (`repeats`: the replay policy probed and the peer answered) is
 * tried again 1, 2, 4, ... minutes after its last attempt, even while the queue is busy: the embedded replayer's
 * back-off, at the sweep's pace.
 */
function retryDue(entry: JournalEntry, now: number, redriveAfterMs: number): boolean {
  if (!entry.repeats || !entry.lastAttemptAt) return false;
  const wait = Math.min(60_000 * 2 ** Math.min(entry.repeats - 1, 20), redriveAfterMs);
  return now - Date.parse(entry.lastAttemptAt) >= wait;
}

function compact(iso: string): string {
  return iso.replace(/[^0-9TZ]/g, '');
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}
