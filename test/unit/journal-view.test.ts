import { describe, expect, it } from 'vitest';
import { MemoryIndex } from '../../src/adapters/fs-journal/memory-index.js';
import { type JournalEntry, touchedPaths } from '../../src/core/entry.js';
import type { JournalStore } from '../../src/core/journal.js';
import { type ChangeFilter, deriveLane, type EntryView, JournalView } from '../../src/core/journal-view.js';
import { pathsOverlap } from '../../src/core/paths.js';
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
    list: async (lane: string, options?: object) => {
      calls.list += 1;
      return index.list(lane, options);
    },
    read: async (ref: { lane: string; id: string }) => {
      const entry = index.get(ref);
      return entry && { ...entry };
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
  return { view: new JournalView(store), calls, store };
}

function fill(index: MemoryIndex, random: () => number, stuckShare: number): void {
  for (let n = 0; n < 600; n++) {
    // One lane, or (a change for both peers) the same id in two lanes.
    const targets = random() < 0.2 ? [LANES[0]!, LANES[2]!] : [LANES[Math.floor(random() * LANES.length)]!];
    const path = `/user_homes/d${Math.floor(random() * 8)}/f${Math.floor(random() * 30)}.bin`; // some paths again
    const node = random() < 0.5 ? 'node1' : undefined;
    for (const { lane, peer } of targets) {
      const r = random();
      const status = r < stuckShare ? 'CONFLICT' : r < stuckShare * 1.5 ? 'AWAITING_BODY' : 'PENDING';
      index.set({
        id: `20261206T0000000${String(n).padStart(5, '0')}`,
        lane,
        peer,
        location: '/user_homes',
        action: 'upload',
        path,
        size: Math.floor(random() * 100_000),
        createdAt: new Date(Date.UTC(2026, 11, 6) + n * 1000).toISOString(),
        attempts: 0,
        status,
        ...(node ? { node } : {}),
      } as JournalEntry);
    }
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
      walked.calls.list = 0;
      expect(fast.calls.list).toBe(0); // the scan, not a copy of the lane, where something is stuck
      if (stuckShare === 0)
        expect(fast.calls.scan).toBe(0); // only PENDING: the summary alone
      else expect(fast.calls.scan).toBeGreaterThan(0);
      const server2 = figures.get('server2')!;
      expect(server2.pending).toBeGreaterThan(100);
      if (stuckShare > 0.05) expect(server2.blocked + server2.conflicts).toBeGreaterThan(0);
    }
  });

  it('walks a lane with something stuck again only once its counts change', async () => {
    const index = new MemoryIndex();
    fill(index, seeded(4), 0.1);
    const fast = storeOver(index, true);
    const first = await fast.view.backlog();
    const scans = fast.calls.scan;
    expect(scans).toBeGreaterThan(0);
    expect(await fast.view.backlog()).toEqual(first);
    expect(fast.calls.scan).toBe(scans); // nothing changed: nothing walked
    // A change in one lane: that lane is walked again, and the figures are those of a fresh view.
    const lane = LANES[0]!.lane;
    const conflict = index.list(lane).find((e) => e.status === 'CONFLICT')!;
    index.set({ ...conflict, status: 'PENDING' });
    const after = await fast.view.backlog();
    expect(fast.calls.scan).toBe(scans + 1);
    expect(after).toEqual(await storeOver(index, false).view.backlog());
    expect(after.get('server2')!.conflicts).toBe(first.get('server2')!.conflicts - 1);

    // A store with counts but only an awaited listing: the lane may change while it is listed, so nothing is kept.
    const { scan: _, ...listing } = fast.store as JournalStore & { scan: unknown };
    const listed = new JournalView(listing as JournalStore);
    const counting = listing as unknown as { list: (...args: unknown[]) => Promise<unknown> };
    let lists = 0;
    const list = counting.list;
    counting.list = (...args) => {
      lists += 1;
      return list(...args);
    };
    await listed.backlog();
    const once = lists;
    await listed.backlog();
    expect(lists).toBe(2 * once);
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

/** What a page of changes was before it learnt to stop early: every lane derived, filtered, grouped and sorted. */
async function referencePage(index: MemoryIndex, filter: ChangeFilter) {
  const limit = filter.limit ?? 100;
  const byId = new Map<string, EntryView[]>();
  for (const lane of index.lanes()) {
    for (const v of deriveLane(index.list(lane))) {
      if (filter.cursor && v.id <= filter.cursor) continue;
      if (filter.peer && v.peer !== filter.peer) continue;
      if (filter.node !== undefined && (v.node ?? '') !== filter.node) continue;
      if (filter.status && v.view !== filter.status) continue;
      byId.set(v.id, [...(byId.get(v.id) ?? []), v]);
    }
  }
  const ids = [...byId.keys()].sort();
  return { ids: ids.slice(0, limit), next: ids.length > limit ? ids[limit - 1]! : null, byId };
}

describe('JournalView.listChanges and getChange', () => {
  it('pages through the same changes, in the same order and with the same views, as deriving every lane', async () => {
    const filters: ChangeFilter[] = [
      {},
      { status: 'PENDING' },
      { status: 'BLOCKED' },
      { status: 'CONFLICT' },
      { peer: 'server3' },
      { node: 'node1' },
      { node: '' },
      { peer: 'server2', status: 'PENDING', node: 'node1' },
    ];
    for (const [seed, stuckShare] of [
      [4, 0],
      [5, 0.03],
    ] as const) {
      const index = new MemoryIndex();
      fill(index, seeded(seed), stuckShare);
      for (const { lane } of LANES) for (const e of index.list(lane).filter((_, i) => i % 4 === 1)) index.delete(e);
      for (const fast of [true, false]) {
        const { view } = storeOver(index, fast);
        for (const base of filters) {
          let cursor: string | undefined;
          let pages = 0;
          for (;;) {
            const filter = { ...base, limit: 37, ...(cursor ? { cursor } : {}) };
            const got = await view.listChanges(filter);
            const want = await referencePage(index, filter);
            expect(got.items.map((c) => c.id)).toEqual(want.ids);
            expect(got.next).toBe(want.next);
            for (const change of got.items) {
              const views = want.byId.get(change.id)!;
              expect(change.peers.map((p) => [p.peer, p.status, p.blockedBy])).toEqual(
                views.map((v) => [v.peer, v.view, v.blockedBy]),
              );
            }
            pages += 1;
            if (!got.next) break;
            cursor = got.next;
          }
          expect(pages).toBeLessThan(40);
        }
        // One change: the same as its lanes show it in full.
        const all = await referencePage(index, { limit: 10_000 });
        for (const id of all.ids.filter((_, i) => i % 29 === 0)) {
          const change = await view.getChange(id);
          expect(change.peers.map((p) => [p.peer, p.status, p.blockedBy])).toEqual(
            all.byId.get(id)!.map((v) => [v.peer, v.view, v.blockedBy]),
          );
        }
        await expect(view.getChange('20261206T999999999999')).rejects.toMatchObject({ code: 'CHANGE_NOT_FOUND' });
      }
      if (stuckShare > 0) {
        const blocked = await referencePage(index, { status: 'BLOCKED', limit: 10_000 });
        expect(blocked.ids.length).toBeGreaterThan(0); // the filters above met BLOCKED entries
      }
    }
  });
});

describe('deriveLane', () => {
  /** The definition, quadratic: an entry waits behind the oldest stuck (or waiting) older entry it overlaps. */
  function reference(entries: readonly JournalEntry[]): { view: string; blockedBy?: string }[] {
    const stuck: { paths: string[]; root: string }[] = [];
    return entries.map((entry) => {
      const paths = touchedPaths(entry);
      const blocker =
        entry.status === 'PENDING'
          ? stuck.find((s) => s.paths.some((p) => paths.some((q) => pathsOverlap(p, q))))
          : undefined;
      const view = blocker ? 'BLOCKED' : entry.status;
      if (['CONFLICT', 'FAILED', 'HELD', 'BLOCKED', 'AWAITING_BODY'].includes(view)) {
        stuck.push({ paths, root: blocker?.root ?? entry.id });
      }
      return blocker ? { view, blockedBy: blocker.root } : { view };
    });
  }

  it('marks BLOCKED, and what each waits behind, as the definition does: folders, renames, deep trees', () => {
    const random = seeded(11);
    const names = ['a', 'b', 'a/b', 'a/b/c', 'ab', 'b/a', 'c d'];
    const pick = () => `/user_homes/${names[Math.floor(random() * names.length)]}`;
    for (let round = 0; round < 300; round++) {
      // Short lanes and long ones, few stuck entries and many (more than PathOwners compares one by one).
      const entries = Array.from({ length: 1 + Math.floor(random() * 120) }, (_, n): JournalEntry => {
        const r = random();
        const status = r < 0.08 ? 'CONFLICT' : r < 0.12 ? 'AWAITING_BODY' : r < 0.15 ? 'HELD' : 'PENDING';
        const rename = random() < 0.2;
        return {
          id: `20261206T0000000${String(n).padStart(5, '0')}`,
          lane: LANES[0]!.lane,
          peer: 'server2',
          location: '/user_homes',
          action: rename ? 'rename' : random() < 0.3 ? 'delete' : 'upload',
          path: random() < 0.05 ? '/user_homes' : pick(),
          ...(rename ? { target: pick() } : {}),
          createdAt: new Date(Date.UTC(2026, 11, 6) + n * 1000).toISOString(),
          attempts: 0,
          status,
        } as JournalEntry;
      });
      const derived = deriveLane(entries).map((v) =>
        v.blockedBy ? { view: v.view, blockedBy: v.blockedBy } : { view: v.view },
      );
      expect(derived, `round ${round}`).toEqual(reference(entries));
    }
  });

  it('costs each entry its depth, not the number of stuck entries before it: 20,000 held back, 20,000 not', () => {
    // With a list of stuck paths this lane took ~30 s (every free entry compared with every held one).
    const entry = (n: number, path: string, status: JournalEntry['status'] = 'PENDING'): JournalEntry =>
      ({
        id: `20261206T00000${String(n).padStart(7, '0')}`,
        lane: LANES[0]!.lane,
        peer: 'server2',
        location: '/user_homes',
        action: 'upload',
        path,
        createdAt: new Date(Date.UTC(2026, 11, 6)).toISOString(),
        attempts: 0,
        status,
      }) as JournalEntry;
    const entries = [entry(0, '/user_homes/a', 'CONFLICT')];
    for (let n = 1; n <= 20_000; n++) entries.push(entry(n, `/user_homes/a/f${n}`));
    for (let n = 20_001; n <= 40_000; n++) entries.push(entry(n, `/user_homes/b/f${n}`));
    const views = deriveLane(entries);
    expect(views.filter((v) => v.view === 'BLOCKED' && v.blockedBy === entries[0]!.id)).toHaveLength(20_000);
    expect(views.filter((v) => v.view === 'PENDING')).toHaveLength(20_000);
  });
});
