import type { EntryRef } from './entry.js';

/**
 * Wakes the replayer: "these entries are ready". Only a hint — the journal is the source of truth, so a lost,
 * late or duplicated ring never loses or reorders a change (the sweep re-drives anything pending).
 */
export interface Doorbell {
  ring(refs: readonly EntryRef[]): Promise<void>;
  /**
   * "These entries exist but are not ready" (uploads AWAITING_BODY): a replayer that keeps its own view of the
   * journal learns of them at once, so that later changes to the same paths wait behind them. Optional: one that
   * reads the journal before every replay (cloud) needs no telling.
   */
  announce?(refs: readonly EntryRef[]): Promise<void>;
}

/** Used where nothing replays in-process (e.g. tests of ingestion alone). */
export const silentDoorbell: Doorbell = { ring: async () => {} };
