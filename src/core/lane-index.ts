import type { JournalEntry } from './entry.js';

/**
 * One lane's entries in id order (= time order), with O(log n) lookup by id, O(1) amortized append, and O(1)
 * amortized removal wherever the entry is.
 *
 * A lane drains oldest first, and replays finish a little out of order (several in flight), so removals land at
 * or near the front of a long array. Splicing there moves the whole array: on a lane of 100,000 entries that was
 * ~0.1 ms per purged entry, on a million ~1 ms, twice per entry (the journal's index and the replayer's), and a
 * large backlog drained slower the larger it was. Removal instead leaves the id in place as a tombstone (it is no
 * longer in `byId`); tombstones at the front are stepped over at once, and the array is compacted when they make
 * up half of it, which costs O(n) once per n/2 removals.
 */
export class LaneIndex {
  /**
   * Sorted ids from `start` on; an id not in `byId` is a tombstone. Every live id is at or after `start`, so the
   * array holds `ids.length - byId.size` dead slots (stepped over or tombstones).
   */
  private ids: string[] = [];
  private start = 0;
  private readonly byId = new Map<string, JournalEntry>();

  get size(): number {
    return this.byId.size;
  }

  get(id: string): JournalEntry | undefined {
    return this.byId.get(id);
  }

  set(entry: JournalEntry): void {
    const id = entry.id;
    if (!this.byId.has(id)) {
      const at = this.insertionPoint(id);
      if (this.ids[at] !== id) this.ids.splice(at, 0, id); // else its tombstone comes back to life
    }
    this.byId.set(id, entry);
  }

  delete(id: string): void {
    if (!this.byId.delete(id)) return;
    // Step over the tombstones at the front, so that the oldest live entry is always at `start`.
    while (this.start < this.ids.length && !this.byId.has(this.ids[this.start]!)) this.start += 1;
    const holes = this.ids.length - this.byId.size;
    if (holes > 32 && holes * 2 > this.ids.length) this.compact();
  }

  /** Entries after `after` (exclusive), oldest first, at most `limit`. */
  slice(after: string | undefined, limit: number): JournalEntry[] {
    let at = after === undefined ? this.start : this.insertionPoint(after);
    if (after !== undefined && this.ids[at] === after) at += 1;
    const out: JournalEntry[] = [];
    for (; at < this.ids.length && out.length < limit; at++) {
      const entry = this.byId.get(this.ids[at]!);
      if (entry) out.push(entry);
    }
    return out;
  }

  /** Oldest first, without copying; do not modify the index while iterating. */
  *values(): IterableIterator<JournalEntry> {
    const { ids, byId } = this;
    for (let at = this.start; at < ids.length; at++) {
      const entry = byId.get(ids[at]!);
      if (entry) yield entry;
    }
  }

  /** The newest id, if any. */
  last(): string | undefined {
    for (let at = this.ids.length - 1; at >= this.start; at--) {
      const id = this.ids[at]!;
      if (this.byId.has(id)) return id;
    }
    return undefined;
  }

  private compact(): void {
    const live: string[] = [];
    for (let at = this.start; at < this.ids.length; at++) {
      const id = this.ids[at]!;
      if (this.byId.has(id)) live.push(id);
    }
    this.ids = live;
    this.start = 0;
  }

  /** Where `id` is or would go, in [start, ids.length]. */
  private insertionPoint(id: string): number {
    // New ids are almost always the newest: check the end before searching.
    const n = this.ids.length;
    if (n === this.start || this.ids[n - 1]! < id) return n;
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
