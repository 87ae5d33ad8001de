import { describe, expect, it } from 'vitest';
import { MemoryIndex } from '../../src/adapters/fs-journal/memory-index.js';
import type { JournalEntry } from '../../src/core/entry.js';
import type { JournalStore } from '../../src/core/journal.js';
import { JournalView } from '../../src/core/journal-view.js';
import { seeded } from '../bench/stats.js';

const LANES = [
  { lane: '00000000000000a1', peer: 'server2' },
  { lane: '00000000000000a2', peer: 'server2' },
  { lane: '00000000000000b1', peer: 'server3' },
];

/** A store over a MemoryIndex: with the O(1) summary and the copy-free scan, or with `list` alone. */
function storeOver(index: MemoryIndex, fast: boolean) {
  const calls = { list: 0, scan: 0 };
  const store = {
    lanes: async () => index.lanes(),
    list: async (lane: string) => {
      calls.list += 1;
      return index.list(lane);
    },
    ...(fast
      ? {
          summary: (lane: string) => index.summary(lane),
          scan: (lane: string) => {
            calls.scan += 1;
            return index.scan(lane);
          },
        }
      : {}),
  } as unknown as JournalStore;
  return { view: new JournalView(store), calls };
}

function fill(index: MemoryIndex, random: () => number, stuckShare: number): void {
  for (let n = 0; n < 600; n++) {
    const { lane, peer } = LANES[Math.floor(random() * LANES.length)]!;
    const r = random();
    const status = r < stuckShare ? 'CONFLICT' : r < stuckShare * 1.5 ? 'AWAITING_BODY' : 'PENDING';
    index.set({
      id: `20261206T0000000${String(n).padStart(5, '0')}`,
      lane,
      peer,
      location: '/user_homes',
      action: 'upload',
      path: `/user_homes/d${Math.floor(random() * 8)}/f${n}.bin`,
      size: Math.floor(random() * 100_000),
      createdAt: new Date(Date.UTC(2026, 11, 6) + n * 1000).toISOString(),
      attempts: 0,
      status,
    } as JournalEntry);
  }
}

describe('JournalView.backlog', () => {
  it('gives the same figures from the store summary as from walking every lane, stuck entries or not', async () => {
    for (const [seed, stuckShare] of [
      [1, 0],
      [2, 0.01],
      [3, 0.1],
    ] as const) {
      const index = new MemoryIndex();
      fill(index, seeded(seed), stuckShare);
      // Purge some from the front and the middle, as a drain does.
      for (const { lane } of LANES) for (const e of index.list(lane).filter((_, i) => i % 3 === 0)) index.delete(e);
      const fast = storeOver(index, true);
      const walked = storeOver(index, false);
      const figures = await fast.view.backlog();
      expect(figures).toEqual(await walked.view.backlog());
      expect(walked.calls.list).toBe(LANES.length);
      expect(fast.calls.list).toBe(0); // the scan, not a copy of the lane, where something is stuck
      if (stuckShare === 0)
        expect(fast.calls.scan).toBe(0); // only PENDING: the summary alone
      else expect(fast.calls.scan).toBeGreaterThan(0);
      const server2 = figures.get('server2')!;
      expect(server2.pending).toBeGreaterThan(100);
      if (stuckShare > 0.05) expect(server2.blocked + server2.conflicts).toBeGreaterThan(0);
    }
  });

  it('counts status changes and purges without listing a lane that holds only PENDING entries', async () => {
    const index = new MemoryIndex();
    fill(index, seeded(9), 0);
    const { view } = storeOver(index, true);
    const before = (await view.backlog()).get('server3')!;
    const [first, second] = index.list(LANES[2]!.lane);
    index.delete(first!);
    index.set({ ...second!, size: (second!.size ?? 0) + 5 });
    const after = (await view.backlog()).get('server3')!;
    expect(after.pending).toBe(before.pending - 1);
    expect(after.pendingBytes).toBe(before.pendingBytes - (first!.size ?? 0) + 5);
    expect(after.oldestPendingAt).toBe(second!.createdAt);
    index.set({ ...second!, status: 'CONFLICT' });
    const stuck = (await view.backlog()).get('server3')!;
    expect(stuck).toMatchObject({ pending: before.pending - 2, conflicts: 1 });
  });
});
