import type { JournalEntry } from './entry.js';

/** One lane's entries in id order (= time order), with O(log n) insert and lookup by id. */
export class LaneIndex {
  private readonly ids: string[] = [];
  private readonly byId = new Map<string, JournalEntry>();

  get size(): number {
    return this.ids.length;
  }

  get(id: string): JournalEntry | undefined {
    return this.byId.get(id);
  }

  set(entry: JournalEntry): void {
    if (!this.byId.has(entry.id)) this.ids.splice(this.insertionPoint(entry.id), 0, entry.id);
    this.byId.set(entry.id, entry);
  }

  delete(id: string): void {
    if (!this.byId.delete(id)) return;
    const at = this.insertionPoint(id);
    if (this.ids[at] === id) this.ids.splice(at, 1);
  }

  /** Entries after `after` (exclusive), oldest first, at most `limit`. */
  slice(after: string | undefined, limit: number): JournalEntry[] {
    let at = after === undefined ? 0 : this.insertionPoint(after);
    if (after !== undefined && this.ids[at] === after) at += 1;
    return this.ids.slice(at, at + limit).map((id) => this.byId.get(id)!);
  }

  /** Oldest first, without copying; do not modify the index while iterating. */
  *values(): IterableIterator<JournalEntry> {
    for (const id of this.ids) yield this.byId.get(id)!;
  }

  last(): string | undefined {
    return this.ids[this.ids.length - 1];
  }

  private insertionPoint(id: string): number {
    // New ids are almost always the newest: check the end before searching.
    const n = this.ids.length;
    if (n === 0 || this.ids[n - 1]! < id) return n;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ids[mid]! < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
