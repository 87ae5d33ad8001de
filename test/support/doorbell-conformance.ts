import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Doorbell } from '../../src/core/doorbell.js';
import type { JournalEntry } from '../../src/core/entry.js';
import type { JournalStore } from '../../src/core/journal.js';
import type { Peer, ReplayOutcome } from '../../src/core/peer.js';
import { entry } from './journal-conformance.js';
import { waitFor } from './node-client.js';

/** A peer that applies everything and remembers the order (the doorbell suites' consumer side). */
export class RecordingPeer implements Peer {
  readonly name = 'server2';
  readonly applied: string[] = [];
  async probe(): Promise<ReplayOutcome> {
    return { kind: 'applied' };
  }
  async apply(e: JournalEntry, _openBody: () => Promise<Readable>): Promise<ReplayOutcome> {
    this.applied.push(e.id);
    await new Promise((r) => setTimeout(r, 5)); // long enough for out-of-order work to show
    return { kind: 'applied' };
  }
  async close(): Promise<void> {}
}

export interface DoorbellFixture {
  store: JournalStore;
  doorbell: Doorbell;
  peer: RecordingPeer;
  close(): Promise<void>;
}

/**
 * What every doorbell must do, with the replay engine behind it (in-process: the replayer; SQS: the queue, its
 * poller and the cloud worker): a ring gets each ready entry applied once and purged; duplicates and rings for
 * entries that are gone are harmless; overlapping entries are applied oldest first whatever order they are rung in.
 */
export function doorbellConformance(name: string, open: () => Promise<DoorbellFixture>, timeoutMs = 30_000): void {
  const withBell = (test: (f: DoorbellFixture) => Promise<void>) => async () => {
    const fixture = await open();
    try {
      await test(fixture);
    } finally {
      await fixture.close();
    }
  };
  const settled = async (f: DoorbellFixture, count: number) => {
    await waitFor(
      async () => f.peer.applied.length >= count,
      timeoutMs,
      () => `applied ${f.peer.applied.length} of ${count}`,
    );
    await waitFor(
      async () => (await f.store.list(entry().lane)).length === 0,
      timeoutMs,
      () => 'entries left in the journal',
    );
  };

  describe(`Doorbell conformance: ${name}`, () => {
    it(
      'a ring gets every ready entry applied once and purged',
      withBell(async (f) => {
        const entries = Array.from({ length: 5 }, (_, i) => entry({ path: `/user_homes/u${i}` }));
        await f.store.create(entries);
        await f.doorbell.ring(entries);
        await settled(f, 5);
        expect([...f.peer.applied].sort()).toEqual(entries.map((e) => e.id).sort());
      }),
      timeoutMs * 3,
    );

    it(
      'a duplicate or late ring applies nothing twice, and a ring for an entry that is gone is harmless',
      withBell(async (f) => {
        const e = entry({ path: '/user_homes/once' });
        await f.store.create([e]);
        await f.doorbell.ring([e]);
        await f.doorbell.ring([e]);
        await settled(f, 1);
        await f.doorbell.ring([e]); // late: already purged
        await f.doorbell.ring([entry({ path: '/user_homes/never-created' })]);
        await new Promise((r) => setTimeout(r, 1500));
        expect(f.peer.applied).toEqual([e.id]);
      }),
      timeoutMs * 3,
    );

    it(
      'overlapping entries are applied oldest first, whatever order they are rung in',
      withBell(async (f) => {
        const chain = [
          entry({ action: 'makedir', path: '/user_homes/a' }),
          entry({ action: 'makedir', path: '/user_homes/a/b' }),
          entry({ action: 'rename', path: '/user_homes/a/b', target: '/user_homes/z/b' }),
          entry({ action: 'delete', path: '/user_homes/z' }),
        ];
        await f.store.create(chain);
        await f.doorbell.ring([...chain].reverse());
        await settled(f, chain.length);
        expect(f.peer.applied).toEqual(chain.map((e) => e.id));
      }),
      timeoutMs * 3,
    );
  });
}
