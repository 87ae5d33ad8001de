import { join, sep } from 'node:path';
import type { EntryRef } from '../../core/entry.js';

export const JOURNAL_DIR = 'multi_journal';
/** The write-ahead log, beside multi_journal/ (never inside it: the journal layout is a contract). */
export const WAL_DIR = 'wal';
export const ENTRY_FILE = 'config.XML';
export const BODY_FILE = 'upload';

/**
 * Where things are under a journal root: `<root>/multi_journal/<lane>/<id>/{config.XML,upload}`. Lanes and ids are
 * single path segments (a hex hash, a stamp), so the paths below are joined with the separator, not `path.join`:
 * they are built several times for every change, and join's normalising was ~1.5 % of ingest's main thread.
 */
export class JournalLayout {
  readonly journal: string;

  constructor(readonly root: string) {
    this.journal = join(root, JOURNAL_DIR);
  }

  laneDir(lane: string): string {
    return this.journal + sep + lane;
  }

  entryDir(ref: EntryRef | { lane: string; id: string }): string {
    return this.journal + sep + ref.lane + sep + ref.id;
  }

  entryFile(ref: EntryRef | { lane: string; id: string }): string {
    return this.entryDir(ref) + sep + ENTRY_FILE;
  }

  bodyFile(ref: EntryRef | { lane: string; id: string }): string {
    return this.entryDir(ref) + sep + BODY_FILE;
  }
}

/** One entry's key in the store's maps. */
export function entryKey(ref: { lane: string; id: string }): string {
  return `${ref.lane}/${ref.id}`;
}

export function ignoreMissing(error: NodeJS.ErrnoException): undefined {
  if (error.code === 'ENOENT') return undefined;
  throw error;
}
