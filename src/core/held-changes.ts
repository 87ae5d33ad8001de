import { type DeleteGuard, deleteOrigin } from './delete-guard.js';
import type { Doorbell } from './doorbell.js';
import type { JournalEntry } from './entry.js';
import type { JournalStore } from './journal.js';
import type { Logger } from './logger.js';
import { dropEntries } from './operator.js';

export interface HeldChangesDeps {
  store: JournalStore;
  doorbell: Doorbell;
  /** The guard whose tripped origins start over once nothing of theirs is held any more. */
  guard?: DeleteGuard;
  logger?: Logger;
}

/**
 * What an operator does about changes the delete guard HELD: release them (they replay like any other change,
 * and are not counted again) or discard them (purged; the peer keeps what it has). Acting on the last delete an
 * origin had HELD by the window rule re-arms that origin with an empty window (CONTRACT "until an operator acts").
 */
export class HeldChanges {
  constructor(private readonly deps: HeldChangesDeps) {}

  /** Every HELD entry in the journal, of one node or of all, oldest first within each lane. */
  async entries(node?: string): Promise<JournalEntry[]> {
    const held: JournalEntry[] = [];
    for (const lane of await this.deps.store.lanes()) {
      for (const entry of await this.deps.store.list(lane)) {
        if (entry.status === 'HELD' && (node === undefined || entry.node === node)) held.push(entry);
      }
    }
    return held;
  }

  /** Releases every held change (of `node`); answers how many changes (not entries: one per peer) it released. */
  async release(node?: string): Promise<number> {
    return changeCount(await this.releaseEntries(await this.entries(node)));
  }

  /** Discards every held change (of `node`); answers how many changes it discarded. */
  async discard(node?: string): Promise<number> {
    return changeCount(await this.discardEntries(await this.entries(node)));
  }

  /** HELD → PENDING, marked released (the guard lets them through), and rung. Others are left alone. */
  async releaseEntries(entries: readonly JournalEntry[]): Promise<JournalEntry[]> {
    const released = entries
      .filter((e) => e.status === 'HELD')
      .map(({ repeats: _repeats, ...e }) => ({ ...e, status: 'PENDING' as const, released: true }));
    for (const entry of released) await this.deps.store.update(entry);
    if (released.length > 0) await this.deps.doorbell.ring(released);
    await this.rearm(released);
    this.log('released held changes', released);
    return released;
  }

  /** Purges HELD entries (the peer keeps what it has) and wakes what waited behind them. */
  async discardEntries(entries: readonly JournalEntry[]): Promise<JournalEntry[]> {
    const held = entries.filter((e) => e.status === 'HELD');
    if (held.length > 0) await dropEntries(this.deps.store, this.deps.doorbell, held);
    await this.rearm(held);
    this.log('discarded held changes', held);
    return held;
  }

  /**
   * The origins of `acted` (entries an operator released or discarded) whose journal holds no delete HELD by the
   * window rule any more start over with an empty window. One still holding some stays tripped.
   */
  async rearm(acted: readonly JournalEntry[]): Promise<void> {
    const { guard } = this.deps;
    const origins = new Set(acted.filter((e) => e.hold === 'window').map(deleteOrigin));
    if (!guard || origins.size === 0) return;
    for (const entry of await this.entries()) {
      if (entry.hold === 'window') origins.delete(deleteOrigin(entry));
    }
    if (origins.size === 0) return;
    for (const origin of origins) await guard.rearm(origin);
    // A delete of one of them HELD meanwhile by another process (cloud mode) keeps its origin tripped: looked for
    // after clearing, as that process looks at the trip after journaling it — one of the two sees the other.
    for (const entry of await this.entries()) {
      if (entry.hold === 'window' && origins.has(deleteOrigin(entry))) {
        await guard.trip(deleteOrigin(entry), entry.lastError ?? 'delete guard: deletes held');
      }
    }
  }

  /**
   * At start-up, where windows live in memory: every origin whose journal still holds deletes HELD by the window
   * rule is tripped again, so a restart never lets its next deletes through.
   */
  async restoreTrips(): Promise<number> {
    const { guard } = this.deps;
    if (!guard) return 0;
    const tripped = new Map<string, string>();
    for (const entry of await this.entries()) {
      if (entry.hold === 'window' && !tripped.has(deleteOrigin(entry))) {
        tripped.set(deleteOrigin(entry), entry.lastError ?? 'delete guard: deletes held before a restart');
      }
    }
    for (const [origin, reason] of tripped) await guard.trip(origin, reason);
    return tripped.size;
  }

  private log(message: string, entries: readonly JournalEntry[]): void {
    if (entries.length === 0) return;
    this.deps.logger?.info(message, { changes: changeCount(entries), entries: entries.length });
  }
}

function changeCount(entries: readonly JournalEntry[]): number {
  return new Set(entries.map((e) => e.id)).size;
}
