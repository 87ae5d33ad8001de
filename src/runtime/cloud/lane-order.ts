import { type EntryRef, type JournalEntry, touchedPaths } from '../../core/entry.js';
import type { JournalStore } from '../../core/journal.js';
import { overlaps } from '../../core/journal-view.js';
import { PathMarks } from '../../core/path-marks.js';

/**
 * The embedded replayer's ordering rule over a lane read from the journal: an entry may go to its peer once no
 * older entry of its lane (whatever its status: in flight, PENDING, parked, awaiting its body) overlaps its paths.
 */

/** PENDING entries of one lane (oldest first) that nothing older holds back. */
export function readyEntries(lane: readonly JournalEntry[]): JournalEntry[] {
  const older = new PathMarks();
  const ready: JournalEntry[] = [];
  for (const entry of lane) {
    const paths = touchedPaths(entry);
    if (entry.status === 'PENDING' && !paths.some((p) => older.overlaps(p))) ready.push(entry);
    for (const path of paths) older.add(path);
  }
  return ready;
}

/** The oldest of `older` that holds `entry` back, if any. */
export function firstBlocker(entry: JournalEntry, older: readonly JournalEntry[]): JournalEntry | undefined {
  return older.find((o) => o.id < entry.id && overlaps(o, entry));
}

const PAGE = 500;

/** The lane's entries older than `ref`, oldest first; stops listing once it reaches `ref`. */
export async function olderEntries(store: JournalStore, ref: EntryRef): Promise<JournalEntry[]> {
  const older: JournalEntry[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await store.list(ref.lane, { after, limit: PAGE });
    for (const entry of page) {
      if (entry.id >= ref.id) return older;
      older.push(entry);
    }
    if (page.length < PAGE) return older;
    after = page[page.length - 1]!.id;
  }
}
