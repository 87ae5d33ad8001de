import type { EntryRef, JournalEntry } from '../../core/entry.js';
import type { BodyDigest, ListOptions } from '../../core/journal.js';
import type { LaneId } from '../../core/lane.js';
import { LaneIndex, type LaneSummary } from '../../core/lane-index.js';
import { entryKey } from './layout.js';

/**
 * Every entry's metadata in memory (one process owns a journal folder), so that listing and status queries never
 * touch the disk: entries by lane in id order, the digests of their bodies, and which entries are volatile
 * (created with `durable: false`: nothing on disk until published or updated, see FsJournalStore.makeFolder).
 * Entries go in and out as copies: a caller's object never changes what the index holds.
 */
export class MemoryIndex {
  private readonly byLane = new Map<LaneId, LaneIndex>();
  private readonly digests = new Map<string, BodyDigest>();
  private readonly volatile = new Set<string>();

  get(ref: EntryRef): JournalEntry | undefined {
    return this.byLane.get(ref.lane)?.get(ref.id);
  }

  has(ref: EntryRef): boolean {
    return this.get(ref) !== undefined;
  }

  set(entry: JournalEntry): void {
    this.laneIndex(entry.lane).set({ ...entry });
  }

  /** Forgets the entry, its digest and its volatility. */
  delete(ref: EntryRef): void {
    this.byLane.get(ref.lane)?.delete(ref.id);
    this.digests.delete(entryKey(ref));
    this.volatile.delete(entryKey(ref));
  }

  list(lane: LaneId, options: ListOptions = {}): JournalEntry[] {
    const index = this.byLane.get(lane);
    if (!index) return [];
    return index.slice(options.after, options.limit ?? Number.POSITIVE_INFINITY).map((e) => ({ ...e }));
  }

  summary(lane: LaneId): LaneSummary | undefined {
    return this.byLane.get(lane)?.summary();
  }

  /** A lane's entries oldest first, not copied: read only. */
  scan(lane: LaneId): Iterable<JournalEntry> {
    return this.byLane.get(lane)?.values() ?? [];
  }

  lanes(): LaneId[] {
    return [...this.byLane.entries()].filter(([, index]) => index.size > 0).map(([lane]) => lane);
  }

  newestId(): string | undefined {
    let newest: string | undefined;
    for (const index of this.byLane.values()) {
      const last = index.last();
      if (last && (!newest || last > newest)) newest = last;
    }
    return newest;
  }

  /** A lane's entries as loaded at start-up. */
  load(lane: LaneId, index: LaneIndex): void {
    this.byLane.set(lane, index);
  }

  digest(ref: EntryRef): BodyDigest | undefined {
    return this.digests.get(entryKey(ref));
  }

  setDigest(ref: EntryRef, digest: BodyDigest): void {
    this.digests.set(entryKey(ref), { size: digest.size, sha256: digest.sha256 });
  }

  deleteDigest(ref: EntryRef): void {
    this.digests.delete(entryKey(ref));
  }

  markVolatile(ref: EntryRef): void {
    this.volatile.add(entryKey(ref));
  }

  isVolatile(ref: EntryRef): boolean {
    return this.volatile.has(entryKey(ref));
  }

  /** No longer volatile (published, updated or purged); true if it was. */
  settle(ref: EntryRef): boolean {
    return this.volatile.delete(entryKey(ref));
  }

  private laneIndex(lane: LaneId): LaneIndex {
    let index = this.byLane.get(lane);
    if (!index) {
      index = new LaneIndex();
      this.byLane.set(lane, index);
    }
    return index;
  }
}
