import type { Doorbell } from './doorbell.js';
import type { JournalEntry } from './entry.js';
import { NotFoundError, StateConflictError } from './errors.js';
import type { HeldChanges } from './held-changes.js';
import type { JournalStore } from './journal.js';
import { deriveLane } from './journal-view.js';

/** What an operator does about a parked or held change: send it again (release it), or drop it (discard it). */
export class OperatorActions {
  constructor(
    private readonly store: JournalStore,
    private readonly doorbell: Doorbell,
    private readonly find: (id: string) => Promise<JournalEntry[]>,
    /** The delete guard's side: releasing or discarding a HELD change may re-arm its origin. */
    private readonly held?: HeldChanges,
  ) {}

  /**
   * CONFLICT/FAILED → PENDING, and HELD → PENDING released from the delete guard (for one peer, or every peer);
   * rings so the replayer tries again.
   */
  async retry(id: string, peer?: string): Promise<JournalEntry[]> {
    const entries = await this.entriesOf(id, peer);
    const parked = entries.filter((e) => e.status === 'CONFLICT' || e.status === 'FAILED');
    const held = entries.filter((e) => e.status === 'HELD');
    if (parked.length === 0 && held.length === 0) {
      throw new StateConflictError(
        'NOT_RETRYABLE',
        `change ${id} is not in CONFLICT, FAILED or HELD (status: ${entries.map((e) => e.status).join(', ')})`,
      );
    }
    // A fresh start: the count of identical failures that parked it (replay policy) begins again.
    const retried = parked.map(({ repeats: _repeats, ...e }) => ({ ...e, status: 'PENDING' as const }));
    await Promise.all(retried.map((e) => this.store.update(e)));
    if (retried.length > 0) await this.doorbell.ring(retried);
    const released = held.length > 0 ? await this.releaseHeld(held) : [];
    return [...retried, ...released];
  }

  /** Drops the change from the journal (the operator decided) and wakes what waited behind it. */
  async skip(id: string, peer?: string): Promise<JournalEntry[]> {
    const entries = await this.entriesOf(id, peer);
    await dropEntries(this.store, this.doorbell, entries);
    // Only what was HELD counts as the operator acting on a hold (a released one still carries its rule).
    await this.held?.rearm(entries.filter((e) => e.status === 'HELD'));
    return entries;
  }

  private async releaseHeld(held: JournalEntry[]): Promise<JournalEntry[]> {
    if (this.held) return this.held.releaseEntries(held);
    const released = held.map((e) => ({ ...e, status: 'PENDING' as const, released: true }));
    await Promise.all(released.map((e) => this.store.update(e)));
    await this.doorbell.ring(released);
    return released;
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

/**
 * Purges `entries` and rings what waited behind them (skip, discard, and the expiry of an upload that never got its
 * body). Each lane is read twice however many of its entries go (a bulk discard of thousands stays cheap).
 * `onlyIf`: each is purged only if, read at that moment, it still passes (with the store's purgeIf: another process
 * may have committed it meanwhile); the first one that does not stops the drop. Returns what was purged.
 */
export async function dropEntries(
  store: JournalStore,
  doorbell: Doorbell,
  entries: readonly JournalEntry[],
  onlyIf?: (entry: JournalEntry) => boolean,
): Promise<JournalEntry[]> {
  const purge = async (entry: JournalEntry) => {
    if (onlyIf && store.purgeIf) return store.purgeIf(entry, onlyIf);
    await store.purge(entry);
    return true;
  };
  const purged: JournalEntry[] = [];
  let refused = false;
  const released: JournalEntry[] = [];
  const byLane = new Map<string, JournalEntry[]>();
  for (const entry of entries) {
    const lane = byLane.get(entry.lane);
    if (lane) lane.push(entry);
    else byLane.set(entry.lane, [entry]);
  }
  for (const [lane, dropped] of byLane) {
    if (refused) break;
    const before = deriveLane(await store.list(lane));
    for (const entry of dropped) {
      if (!(await purge(entry))) {
        refused = true;
        break;
      }
      purged.push(entry);
    }
    const after = new Map(deriveLane(await store.list(lane)).map((e) => [e.id, e.view]));
    released.push(...before.filter((e) => e.view === 'BLOCKED' && after.get(e.id) === 'PENDING'));
  }
  // Ring the dropped entries too: whoever keeps a copy of the lane learns they are gone.
  await doorbell.ring([...(onlyIf ? purged : entries), ...released]);
  return purged;
}
