import { join } from 'node:path';
import type { EntryRef } from '../../core/entry.js';

export const JOURNAL_DIR = 'multi_journal';
/** The write-ahead log, beside multi_journal/ (never inside it: the journal layout is a contract). */
export const WAL_DIR = 'wal';
export const ENTRY_FILE = 'config.XML';
export const BODY_FILE = 'upload';

/** Where things are under a journal root: `<root>/multi_journal/<lane>/<id>/{config.XML,upload}`. */
export class JournalLayout {
  readonly journal: string;

  constructor(readonly root: string) {
    this.journal = join(root, JOURNAL_DIR);
  }

  laneDir(lane: string): string {
    return join(this.journal, lane);
  }

  entryDir(ref: EntryRef | { lane: string; id: string }): string {
    return join(this.journal, ref.lane, ref.id);
  }

  entryFile(ref: EntryRef | { lane: string; id: string }): string {
    return join(this.journal, ref.lane, ref.id, ENTRY_FILE);
  }

  bodyFile(ref: EntryRef | { lane: string; id: string }): string {
    return join(this.journal, ref.lane, ref.id, BODY_FILE);
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
