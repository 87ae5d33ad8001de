import type { JournalEntry } from './entry.js';

/** What a lane holds, kept up to date as entries come and go (see LaneIndex.summary). */
export interface LaneSummary {
  entries: number;
  /** Entries whose status is not PENDING (stuck, waiting for a body, held). */
  notPending: number;
  /** Bytes of the PENDING entries. */
  pendingBytes: number;
  /** The oldest entry (first in id order). */
  oldest?: JournalEntry;
  /** The newest id. */
  newest?: string;
  /**
   * Sum (mod 2^32) of a hash of each entry's id, status, attempts, size and release: two copies of a lane that
   * agree on it (and on the counts) hold the same entries in the same states, barring a collision.
   */
  checksum: number;
}

/**
 * One lane's entries in id order (= time order), with O(log n) lookup by id, O(1) amortized append, and O(1)
 * amortized removal wherever the entry is.
 *
 * A lane drains oldest first, and replays finish a little out of order (several in flight), so removals land at
 * or near the front of a long array. Splicing there moves the whole array: on a lane of 100,000 entries that was
 * ~0.1 ms per purged entry, on a million ~1 ms, twice per entry (the journal's index and the replayer's), and a
 * large backlog drained slower the larger it was. Removal instead leaves the id in place as a tombstone (its slot
 * in `entries` emptied, the id gone from `byId`); tombstones at the front are stepped over at once, and the arrays
 * are compacted when tombstones make up half of them, which costs O(n) once per n/2 removals.
 *
 * It also keeps a few counts (LaneSummary) as entries come and go, so that backlog figures — asked for by every
 * metrics scrape and `GET /v1/peers` — need not walk a lane of a million entries (about a second, during which the
 * relay does nothing else). Entries are never changed in place once set: `set` a new object instead.
 */
export class LaneIndex {
  /**
   * Sorted ids from `start` on, and beside each its entry, or undefined for a tombstone. Every live id is at or
   * after `start`, so the arrays hold `ids.length - byId.size` dead slots (stepped over or tombstones). Walks go
   * through `entries` in order instead of looking each id up in `byId`: on a long lane that is several times
   * faster (the map's lookups miss the cache).
   */
  private ids: string[] = [];
  private entries: (JournalEntry | undefined)[] = [];
  private start = 0;
  private readonly byId = new Map<string, JournalEntry>();
  private notPending = 0;
  private pendingBytes = 0;
  private checksum = 0;

  get size(): number {
    return this.byId.size;
  }

  get(id: string): JournalEntry | undefined {
    return this.byId.get(id);
  }

  set(entry: JournalEntry): void {
    const id = entry.id;
    const old = this.byId.get(id);
    if (old) this.count(old, -1);
    const at = this.insertionPoint(id);
    if (this.ids[at] === id)
      this.entries[at] = entry; // an update, or a tombstone come back to life
    else {
      this.ids.splice(at, 0, id);
      this.entries.splice(at, 0, entry);
    }
    this.byId.set(id, entry);
    this.count(entry, 1);
  }

  delete(id: string): void {
    const old = this.byId.get(id);
    if (!old) return;
    this.byId.delete(id);
    this.count(old, -1);
    this.entries[this.insertionPoint(id)] = undefined;
    // Step over the tombstones at the front, so that the oldest live entry is always at `start`.
    while (this.start < this.ids.length && this.entries[this.start] === undefined) this.start += 1;
    const holes = this.ids.length - this.byId.size;
    if (holes > 32 && holes * 2 > this.ids.length) this.compact();
  }

  /** Entries after `after` (exclusive), oldest first, at most `limit`. */
  slice(after: string | undefined, limit: number): JournalEntry[] {
    let at = after === undefined ? this.start : this.insertionPoint(after);
    if (after !== undefined && this.ids[at] === after) at += 1;
    const out: JournalEntry[] = [];
    for (; at < this.entries.length && out.length < limit; at++) {
      const entry = this.entries[at];
      if (entry) out.push(entry);
    }
    return out;
  }

  /** Oldest first, without copying; do not modify the index while iterating. */
  *values(): IterableIterator<JournalEntry> {
    const { entries } = this;
    for (let at = this.start; at < entries.length; at++) {
      const entry = entries[at];
      if (entry) yield entry;
    }
  }

  /** Entries after `after` (exclusive), oldest first, without copying; do not modify the index while iterating. */
  *valuesAfter(after: string): IterableIterator<JournalEntry> {
    let at = this.insertionPoint(after);
    if (this.ids[at] === after) at += 1;
    const { entries } = this;
    for (; at < entries.length; at++) {
      const entry = entries[at];
      if (entry) yield entry;
    }
  }

  /** Counts kept as entries come and go: O(1), whatever the lane's length. */
  summary(): LaneSummary {
    const summary: LaneSummary = {
      entries: this.byId.size,
      notPending: this.notPending,
      pendingBytes: this.pendingBytes,
      checksum: this.checksum,
    };
    // `start` is always a live slot when the lane is not empty (delete steps over the tombstones at the front).
    const oldest = this.entries[this.start];
    if (oldest) summary.oldest = oldest;
    const newest = this.last();
    if (newest !== undefined) summary.newest = newest;
    return summary;
  }

  /** The newest id, if any. */
  last(): string | undefined {
    for (let at = this.ids.length - 1; at >= this.start; at--) {
      if (this.entries[at]) return this.ids[at];
    }
    return undefined;
  }

  private count(entry: JournalEntry, sign: 1 | -1): void {
    if (entry.status === 'PENDING') this.pendingBytes += sign * (entry.size ?? 0);
    else this.notPending += sign;
    this.checksum = (this.checksum + sign * fingerprint(entry)) >>> 0;
  }

  private compact(): void {
    const ids: string[] = [];
    const entries: JournalEntry[] = [];
    for (let at = this.start; at < this.ids.length; at++) {
      const entry = this.entries[at];
      if (entry) {
        ids.push(this.ids[at]!);
        entries.push(entry);
      }
    }
    this.ids = ids;
    this.entries = entries;
    this.start = 0;
  }

  /** Where `id` is or would go, in [start, ids.length]. */
  private insertionPoint(id: string): number {
    // New ids are almost always the newest, and removals come from the front: check both ends before searching.
    const n = this.ids.length;
    if (n === this.start || this.ids[n - 1]! < id) return n;
    if (this.ids[this.start]! >= id) return this.start;
    let lo = this.start;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ids[mid]! < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** FNV-1a over what decides how an entry replays: its id, status, attempts, size and release. */
function fingerprint(entry: JournalEntry): number {
  let h = 0x811c9dc5;
  const mix = (text: string) => {
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  };
  mix(entry.id);
  mix(entry.status);
  h = Math.imul(h ^ entry.attempts, 0x01000193);
  h = Math.imul(h ^ ((entry.size ?? -1) % 0x7fffffff), 0x01000193);
  h = Math.imul(h ^ (entry.released ? 1 : 0), 0x01000193);
  return h >>> 0;
}
