import type { EntryStatus, JournalEntry } from './entry.js';
import { touchedPaths } from './entry.js';
import { NotFoundError } from './errors.js';
import type { JournalStore } from './journal.js';
import type { LaneSummary } from './lane-index.js';
import { PathOwners } from './path-marks.js';
import { pathsOverlap } from './paths.js';

/** An entry as operators see it: the stored status, or BLOCKED when it waits behind a stuck or unfinished entry. */
export interface EntryView extends JournalEntry {
  view: EntryStatus;
  /** For BLOCKED: the id of the entry it waits behind (stuck, or an upload still waiting for its body). */
  blockedBy?: string;
}

export interface PeerEntryView {
  peer: string;
  lane: string;
  status: EntryStatus;
  attempts: number;
  lastError?: string;
  lastAttemptAt?: string;
  /** The HTTP status the peer answered the last attempt that did not apply. */
  lastStatus?: number;
  /** The network error code of the last attempt that did not apply, when the peer gave no answer. */
  lastCode?: string;
  /** Attempts in a row that failed the same way while the peer otherwise worked (parked at the policy's cap). */
  repeats?: number;
  blockedBy?: string;
}

export interface ChangeView {
  id: string;
  action: JournalEntry['action'];
  path: string;
  target?: string;
  size?: number;
  sha256?: string;
  modified?: string;
  user?: string;
  node?: string;
  createdAt: string;
  /** The most urgent of the peers' statuses. */
  status: EntryStatus;
  peers: PeerEntryView[];
}

export interface LaneBacklog {
  pending: number;
  pendingBytes: number;
  oldestPendingAt?: string;
  conflicts: number;
  failed: number;
  blocked: number;
  awaitingBody: number;
  /** Entries the delete guard holds until an operator releases or discards them. */
  held: number;
}

export interface ChangeFilter {
  status?: EntryStatus;
  peer?: string;
  /** Only the changes this node sent (`''`: those sent with the admin token). */
  node?: string;
  limit?: number;
  cursor?: string;
}

const URGENCY: EntryStatus[] = ['FAILED', 'CONFLICT', 'HELD', 'BLOCKED', 'AWAITING_BODY', 'PENDING'];

/** True for an entry that holds back later overlapping entries until an operator acts. */
export function isStuck(status: EntryStatus): boolean {
  return status === 'CONFLICT' || status === 'FAILED' || status === 'HELD' || status === 'BLOCKED';
}

/**
 * Derives BLOCKED for one lane (oldest first): a PENDING entry whose paths overlap a CONFLICT, FAILED, HELD,
 * AWAITING_BODY or (transitively) BLOCKED older entry waits behind it — the replayer holds it back, and operators
 * see what holds it (`blockedBy`).
 */
export function deriveLane(entries: readonly JournalEntry[]): EntryView[] {
  const views: EntryView[] = [];
  walkLane(entries, (entry, view, blockedBy) => {
    views.push(viewOf(entry, view, blockedBy));
    return true;
  });
  return views;
}

/**
 * The walk behind deriveLane, without copying entries (backlog figures are asked for often, on long lanes):
 * `visit` gets each entry with its view status and, for BLOCKED, the stuck entry it waits behind; it returns false
 * to stop the walk there (an entry's view depends only on older entries).
 */
function walkLane(
  entries: Iterable<JournalEntry>,
  visit: (entry: JournalEntry, view: EntryStatus, blockedBy: string | undefined) => boolean,
): void {
  // Each stuck entry's paths, owned by the entry it waits behind (itself, unless BLOCKED); an entry waits behind
  // the oldest stuck entry that overlaps it.
  const stuck = new PathOwners<string>();
  for (const entry of entries) {
    let view: EntryStatus = entry.status;
    let blockedBy: string | undefined;
    if (view === 'PENDING' && stuck.size > 0) {
      blockedBy = stuck.first(touchedPaths(entry));
      if (blockedBy !== undefined) view = 'BLOCKED';
    }
    if (isStuck(view) || view === 'AWAITING_BODY') {
      for (const path of touchedPaths(entry)) stuck.add(path, blockedBy ?? entry.id);
    }
    if (visit(entry, view, blockedBy) === false) return;
  }
}

function viewOf(entry: JournalEntry, view: EntryStatus, blockedBy: string | undefined): EntryView {
  const v: EntryView = { ...entry, view };
  if (blockedBy !== undefined) v.blockedBy = blockedBy;
  return v;
}

/** Entries copied per `list` call when paging through a lane. */
const PAGE = 256;

export function overlaps(a: Pick<JournalEntry, 'path' | 'target'>, b: Pick<JournalEntry, 'path' | 'target'>): boolean {
  const bPaths = touchedPaths(b);
  return touchedPaths(a).some((p) => bPaths.some((q) => pathsOverlap(p, q)));
}

/** Read-only operator views over the journal: changes across lanes, backlog per peer. */
export class JournalView {
  /**
   * The figures of each walked lane (one with something stuck), with the counts they were walked at: a lane whose
   * counts have not changed since is not walked again. Behind a parked change with a busy tree below it a walk
   * costs ~0.9 s per million entries, and every scrape, dashboard poll and `status` asks.
   */
  private readonly walked = new Map<string, { counts: string; peer: string; figures: LaneBacklog }>();

  constructor(private readonly store: JournalStore) {}

  /**
   * A page of changes in id order. Each lane gives at most `limit + 1` matching entries (a change in the first
   * `limit + 1` of the whole journal is among the first `limit + 1` of its lanes), so a page costs what it shows,
   * not what the journal holds: a lane that holds only PENDING entries is read from the cursor on, a lane with
   * something stuck in it is walked from its start (what is BLOCKED depends on older entries) only as far as the
   * page needs. On a backlog of a million entries, one page used to copy and sort all of them (seconds, with the
   * relay doing nothing else).
   */
  async listChanges(filter: ChangeFilter): Promise<{ items: ChangeView[]; next: string | null }> {
    const limit = filter.limit ?? 100;
    const byId = new Map<string, EntryView[]>();
    const wanted = (entry: JournalEntry, view: EntryStatus) =>
      !(filter.cursor && entry.id <= filter.cursor) &&
      !(filter.peer && entry.peer !== filter.peer) &&
      !(filter.node !== undefined && (entry.node ?? '') !== filter.node) &&
      !(filter.status && view !== filter.status);
    const add = (view: EntryView) => {
      const group = byId.get(view.id);
      if (group) group.push(view);
      else byId.set(view.id, [view]);
    };
    const lanes = await this.store.lanes();
    // Stores without counts are listed whole, every lane at once (each listing is one moment of its lane).
    const listed = this.store.summary
      ? undefined
      : new Map(await Promise.all(lanes.map(async (lane) => [lane, await this.store.list(lane)] as const)));
    for (const lane of lanes) {
      let taken = 0;
      const summary = this.store.summary?.(lane);
      if (summary && summary.notPending === 0) {
        if (!summary.oldest || (filter.status && filter.status !== 'PENDING')) continue;
        if (filter.peer && summary.oldest.peer !== filter.peer) continue;
        let after = filter.cursor;
        while (taken <= limit) {
          const page = await this.store.list(lane, { after, limit: PAGE });
          for (const entry of page) {
            if (taken > limit) break;
            if (!wanted(entry, 'PENDING')) continue;
            add({ ...entry, view: 'PENDING' });
            taken += 1;
          }
          if (page.length < PAGE) break;
          after = page[page.length - 1]!.id;
        }
        continue;
      }
      const entries = listed?.get(lane) ?? this.store.scan?.(lane) ?? (await this.store.list(lane));
      walkLane(entries, (entry, view, blockedBy) => {
        if (!wanted(entry, view)) return true;
        add(viewOf(entry, view, blockedBy));
        taken += 1;
        return taken <= limit;
      });
    }
    const ids = [...byId.keys()].sort();
    const page = ids.slice(0, limit);
    return {
      items: page.map((id) => toChangeView(byId.get(id)!)),
      next: ids.length > limit ? page[page.length - 1]! : null,
    };
  }

  /**
   * One change as every lane holds it. A store that keeps its counts and scans without copying (the file journal)
   * answers from memory, each lane walked (when something in it is stuck) only up to the change; any other store
   * is listed lane by lane in parallel, one listing per lane, so that each lane is seen at one moment.
   */
  async getChange(id: string): Promise<ChangeView> {
    const entries: EntryView[] = [];
    const find = (lane: Iterable<JournalEntry>) =>
      walkLane(lane, (e, view, blockedBy) => {
        if (e.id !== id) return e.id < id;
        entries.push(viewOf(e, view, blockedBy));
        return false;
      });
    const lanes = await this.store.lanes();
    const { summary, scan } = this.store;
    if (summary && scan) {
      for (const lane of lanes) {
        const entry = await this.store.read({ lane, id });
        if (!entry) continue;
        // From here on synchronous: the lane cannot change under the walk.
        if (summary.call(this.store, lane)?.notPending === 0) entries.push({ ...entry, view: 'PENDING' });
        else find(scan.call(this.store, lane));
      }
    } else {
      for (const listed of await Promise.all(lanes.map((lane) => this.store.list(lane)))) find(listed);
    }
    if (entries.length === 0)
      throw new NotFoundError('CHANGE_NOT_FOUND', `no change ${id} in the journal (replicated changes are purged)`);
    return toChangeView(entries);
  }

  /**
   * Backlog figures per peer name. A lane that holds only PENDING entries is summed from the store's counts
   * (O(1), where the store keeps them); a lane with anything else in it is walked, since what is BLOCKED depends on
   * which paths overlap what is stuck.
   */
  async backlog(): Promise<Map<string, LaneBacklog>> {
    const byPeer = new Map<string, LaneBacklog>();
    const backlogOf = (peer: string) => {
      let b = byPeer.get(peer);
      if (!b) {
        b = emptyBacklog();
        byPeer.set(peer, b);
      }
      return b;
    };
    const lanes = await this.store.lanes();
    for (const lane of lanes) {
      const summary = this.store.summary?.(lane);
      if (summary?.oldest && summary.notPending === 0) {
        const b = backlogOf(summary.oldest.peer);
        b.pending += summary.entries;
        b.pendingBytes += summary.pendingBytes;
        // The oldest entry in id order. Ids come from the stamp clock (never backwards), createdAt from the wall
        // clock: after the wall clock stepped back, the walk below (smallest createdAt) can answer a later time.
        const at = summary.oldest.createdAt;
        if (!b.oldestPendingAt || at < b.oldestPendingAt) b.oldestPendingAt = at;
        continue;
      }
      // The same counts (entries, their statuses, attempts, sizes, oldest and newest) as at the last walk: the same
      // figures. Only where the walk reads the lane at once (scan), so that the counts are those of what was walked;
      // other stores (no counts, or a listing that awaits) walk every time.
      const counts = summary && this.store.scan ? countsKey(summary) : undefined;
      const known = counts === undefined ? undefined : this.walked.get(lane);
      if (known && known.counts === counts) {
        addBacklog(backlogOf(known.peer), known.figures);
        continue;
      }
      const lanePeers = new Map<string, LaneBacklog>();
      walkLane(this.store.scan?.(lane) ?? (await this.store.list(lane)), (entry, view) => {
        const figures = lanePeers.get(entry.peer) ?? emptyBacklog();
        lanePeers.set(entry.peer, figures);
        addToBacklog(figures, entry, view);
        return true;
      });
      for (const [peer, figures] of lanePeers) addBacklog(backlogOf(peer), figures);
      // A lane belongs to one peer (one of several would simply be walked every time).
      const [only] = lanePeers;
      if (counts !== undefined && only && lanePeers.size === 1) {
        this.walked.set(lane, { counts, peer: only[0], figures: only[1] });
      } else this.walked.delete(lane);
    }
    // Lanes gone (drained and removed) leave the cache.
    if (this.walked.size > 0) {
      const listed = new Set(lanes);
      for (const lane of this.walked.keys()) if (!listed.has(lane)) this.walked.delete(lane);
    }
    return byPeer;
  }
}

/** A peer with nothing waiting. */
export function emptyBacklog(): LaneBacklog {
  return { pending: 0, pendingBytes: 0, conflicts: 0, failed: 0, blocked: 0, awaitingBody: 0, held: 0 };
}

/** The counts that decide a lane's figures (see LaneSummary). */
function countsKey(summary: LaneSummary): string {
  return `${summary.entries}/${summary.checksum}/${summary.notPending}/${summary.pendingBytes}/${summary.oldest?.id}/${summary.newest}`;
}

/** Adds `from`'s figures to `to`. */
function addBacklog(to: LaneBacklog, from: LaneBacklog): void {
  to.pending += from.pending;
  to.pendingBytes += from.pendingBytes;
  to.conflicts += from.conflicts;
  to.failed += from.failed;
  to.blocked += from.blocked;
  to.awaitingBody += from.awaitingBody;
  to.held += from.held;
  if (from.oldestPendingAt && (!to.oldestPendingAt || from.oldestPendingAt < to.oldestPendingAt)) {
    to.oldestPendingAt = from.oldestPendingAt;
  }
}

function addToBacklog(b: LaneBacklog, entry: JournalEntry, view: EntryStatus): void {
  switch (view) {
    case 'AWAITING_BODY':
      b.awaitingBody += 1;
      return;
    case 'CONFLICT':
      b.conflicts += 1;
      return;
    case 'FAILED':
      b.failed += 1;
      return;
    case 'HELD':
      b.held += 1;
      return;
    case 'BLOCKED':
      b.blocked += 1;
      break;
  }
  // PENDING and BLOCKED are both waiting to reach the peer.
  b.pending += 1;
  b.pendingBytes += entry.size ?? 0;
  if (!b.oldestPendingAt || entry.createdAt < b.oldestPendingAt) b.oldestPendingAt = entry.createdAt;
}

function toChangeView(entries: EntryView[]): ChangeView {
  const first = entries[0]!;
  const status = URGENCY.find((s) => entries.some((e) => e.view === s)) ?? first.view;
  const view: ChangeView = {
    id: first.id,
    action: first.action,
    path: first.path,
    createdAt: first.createdAt,
    status,
    peers: entries.map((e) => {
      const p: PeerEntryView = { peer: e.peer, lane: e.lane, status: e.view, attempts: e.attempts };
      if (e.lastError !== undefined) p.lastError = e.lastError;
      if (e.lastAttemptAt !== undefined) p.lastAttemptAt = e.lastAttemptAt;
      if (e.lastStatus !== undefined) p.lastStatus = e.lastStatus;
      if (e.lastCode !== undefined) p.lastCode = e.lastCode;
      if (e.repeats !== undefined) p.repeats = e.repeats;
      if (e.blockedBy !== undefined) p.blockedBy = e.blockedBy;
      return p;
    }),
  };
  for (const field of ['target', 'size', 'sha256', 'modified', 'user', 'node'] as const) {
    if (first[field] !== undefined) (view as unknown as Record<string, unknown>)[field] = first[field];
  }
  return view;
}
