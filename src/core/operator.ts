import type { Doorbell } from './doorbell.js';
import type { JournalEntry } from './entry.js';
import { NotFoundError, StateConflictError } from './errors.js';
import type { JournalStore } from './journal.js';
import { deriveLane } from './journal-view.js';

/** What an operator does about a parked change: send it again, or drop it. */
export class OperatorActions {
  constructor(
    private readonly store: JournalStore,
    private readonly doorbell: Doorbell,
    private readonly find: (id: string) => Promise<JournalEntry[]>,
  ) {}

  /** CONFLICT/FAILED → PENDING (for one peer, or every peer), and ring so the replayer tries again. */
  async retry(id: string, peer?: string): Promise<JournalEntry[]> {
    const entries = await this.entriesOf(id, peer);
    const parked = entries.filter((e) => e.status === 'CONFLICT' || e.status === 'FAILED');
    if (parked.length === 0) {
      throw new StateConflictError(
        'NOT_RETRYABLE',
        `change ${id} is not in CONFLICT or FAILED (status: ${entries.map((e) => e.status).join(', ')})`,
      );
    }
    // A fresh start: the count of identical failures that parked it (replay policy) begins again.
    const retried = parked.map(({ repeats: _repeats, ...e }) => ({ ...e, status: 'PENDING' as const }));
    await Promise.all(retried.map((e) => this.store.update(e)));
    await this.doorbell.ring(retried);
    return retried;
  }

  /** Drops the change from the journal (the operator decided) and wakes what waited behind it. */
  async skip(id: string, peer?: string): Promise<JournalEntry[]> {
    const entries = await this.entriesOf(id, peer);
    await dropEntries(this.store, this.doorbell, entries);
    return entries;
  }

  private async entriesOf(id: string, peer: string | undefined): Promise<JournalEntry[]> {
    const all = await this.find(id);
    const entries = peer ? all.filter((e) => e.peer === peer) : all;
    if (entries.length === 0) {
      throw new NotFoundError('CHANGE_NOT_FOUND', `no change ${id}${peer ? ` for peer ${peer}` : ''} in the journal`);
    }
    return entries;
  }
}

/** Purges `entries` and rings what waited behind them (skip, and the expiry of an upload that never got its body). */
export async function dropEntries(store: JournalStore, doorbell: Doorbell, entries: readonly JournalEntry[]) {
  const released: JournalEntry[] = [];
  for (const entry of entries) {
    const before = deriveLane(await store.list(entry.lane));
    await store.purge(entry);
    const after = new Map(deriveLane(await store.list(entry.lane)).map((e) => [e.id, e.view]));
    released.push(...before.filter((e) => e.view === 'BLOCKED' && after.get(e.id) === 'PENDING'));
  }
  // Ring the dropped entries too: whoever keeps a copy of the lane learns they are gone.
  await doorbell.ring([...entries, ...released]);
}
