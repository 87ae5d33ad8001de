import type { EntryRef, JournalEntry } from '../../core/entry.js';
import type { JournalStore } from '../../core/journal.js';
import type { LaneId } from '../../core/lane.js';

/** One listing of a lane, oldest first, as far as it went. */
export class LaneListing {
  private readonly byId: Map<string, JournalEntry>;

  constructor(
    /** When it was started (monotonic ms): it shows every entry created before then and still there. */
    readonly startedAt: number,
    private readonly entries: readonly JournalEntry[],
    /** Whether it reached the lane's end; otherwise it holds every entry up to `entries`' last id. */
    readonly complete: boolean,
    /** Entries this process has seen leave the journal (purged here, or read missing): shared by the lane. */
    private readonly gone: ReadonlySet<string>,
    /** Entries this process rewrote (parked, or a failed attempt recorded), and when: shared by the lane. */
    private readonly rewritten: ReadonlyMap<string, Rewrite>,
  ) {
    this.byId = new Map(entries.map((e) => [e.id, e]));
  }

  /** Whether it can tell about `id`: it went at least that far. */
  covers(id: string): boolean {
    return this.complete || (this.entries.length > 0 && this.entries[this.entries.length - 1]!.id >= id);
  }

  /**
   * The entry as listed, or as this process rewrote it after the listing started; undefined when it was not in
   * the journal then, or has left it since.
   */
  find(id: string): JournalEntry | undefined {
    if (this.gone.has(id)) return undefined;
    const listed = this.byId.get(id);
    const rewrite = listed && this.rewritten.get(id);
    return rewrite && rewrite.at >= this.startedAt ? rewrite.entry : listed;
  }

  /** The entries older than `id` still in the journal as far as this process knows, oldest first. */
  olderThan(id: string): JournalEntry[] {
    const older: JournalEntry[] = [];
    for (const entry of this.entries) {
      if (entry.id >= id) break;
      if (!this.gone.has(entry.id)) older.push(entry);
    }
    return older;
  }
}

/** An entry as this process last wrote it, and when (monotonic ms). */
interface Rewrite {
  entry: JournalEntry;
  at: number;
}

/** Entries per page: a page of ListObjectsV2 (1,000 keys) holds about 500 entries (config.XML and upload). */
const PAGE = 500;
/** Gone ids remembered per lane; forgetting them is safe (an entry may wait longer, never go too early). */
const MAX_GONE = 100_000;
/**
 * Rewritten entries remembered per lane (each a whole entry); forgetting one only matters to a listing started
 * before its rewrite and still in use, which may then try a parked entry once more.
 */
const MAX_REWRITTEN = 10_000;

/**
 * The lane listings of one process, shared by the replays of a batch: the journal check of each entry needs the
 * lane's older entries, and one ListObjectsV2 serves every entry of a batch instead of one each.
 *
 * A listing serves an entry only if it was started after the entry's message arrived (`since`), and went as far
 * as the entry: it then shows every older entry still in the journal at that time — anything older was created
 * before the entry, whose message was sent after it was created. An entry that completed after the listing was
 * taken still shows in it (unless it completed in this process: `markGone`), which only ever makes an entry wait
 * longer, never go too early: the worker looks the blocker up again before it waits for it.
 */
export class LaneListings {
  private readonly latest = new Map<LaneId, Promise<LaneListing>>();
  private readonly gone = new Map<LaneId, Set<string>>();
  private readonly rewritten = new Map<LaneId, Map<string, Rewrite>>();

  constructor(
    private readonly store: JournalStore,
    private readonly monotonic: () => number = () => performance.now(),
  ) {}

  /** A listing of `ref`'s lane started at or after `since` that covers `ref`: the latest one, or a new one. */
  async covering(ref: EntryRef, since: number): Promise<LaneListing> {
    const pending = this.latest.get(ref.lane);
    if (pending) {
      const listing = await pending.catch(() => undefined);
      if (listing && listing.startedAt >= since && listing.covers(ref.id)) return listing;
    }
    // Another caller may have started a newer one while this one looked at the last.
    const newer = this.latest.get(ref.lane);
    if (newer && newer !== pending) {
      const listing = await newer.catch(() => undefined);
      if (listing && listing.startedAt >= since && listing.covers(ref.id)) return listing;
    }
    const started = this.list(ref);
    this.latest.set(ref.lane, started);
    started.catch(() => {
      if (this.latest.get(ref.lane) === started) this.latest.delete(ref.lane);
    });
    return started;
  }

  /** The entry left the journal (this process purged it, or read it missing): every listing forgets it. */
  markGone(ref: EntryRef): void {
    const gone = this.goneIn(ref.lane);
    if (gone.size >= MAX_GONE) gone.clear();
    gone.add(ref.id);
  }

  /**
   * This process rewrote the entry (parked it, or recorded a failed attempt): a listing started before then shows
   * it as written, so that a second delivery sharing that listing neither replays a parked entry again nor writes
   * over the attempt just recorded. A listing started later shows what the journal holds (an operator's retry).
   */
  markRewritten(entry: JournalEntry): void {
    const rewritten = this.rewrittenIn(entry.lane);
    if (rewritten.size >= MAX_REWRITTEN) rewritten.clear();
    rewritten.set(entry.id, { entry, at: this.monotonic() });
  }

  private goneIn(lane: LaneId): Set<string> {
    return ofLane(this.gone, lane, () => new Set());
  }

  private rewrittenIn(lane: LaneId): Map<string, Rewrite> {
    return ofLane(this.rewritten, lane, () => new Map());
  }

  /** The lane from its oldest entry up to the page that holds `ref` (or to its end). */
  private async list(ref: EntryRef): Promise<LaneListing> {
    const startedAt = this.monotonic();
    const entries: JournalEntry[] = [];
    let after: string | undefined;
    const listing = (complete: boolean) =>
      new LaneListing(startedAt, entries, complete, this.goneIn(ref.lane), this.rewrittenIn(ref.lane));
    for (;;) {
      const page = await this.store.list(ref.lane, { after, limit: PAGE });
      entries.push(...page);
      if (page.length < PAGE) return listing(true);
      after = page[page.length - 1]!.id;
      if (after >= ref.id) return listing(false);
    }
  }
}

/** The lane's value in `byLane`, made on first use. */
function ofLane<T>(byLane: Map<LaneId, T>, lane: LaneId, make: () => T): T {
  let value = byLane.get(lane);
  if (value === undefined) {
    value = make();
    byLane.set(lane, value);
  }
  return value;
}
