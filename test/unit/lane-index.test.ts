import { describe, expect, it } from 'vitest';
import type { JournalEntry } from '../../src/core/entry.js';
import { LaneIndex } from '../../src/core/lane-index.js';
import { seeded } from '../bench/stats.js';

function entry(n: number, note = '', status: JournalEntry['status'] = 'PENDING'): JournalEntry {
  return { id: `id-${String(n).padStart(6, '0')}`, path: `/f${n}${note}`, status, size: n * 10 } as JournalEntry;
}

/** The index against a plain sorted model, after every operation. */
function expectSameAs(index: LaneIndex, model: Map<string, JournalEntry>): void {
  const sorted = [...model.keys()].sort();
  expect([...index.values()].map((e) => e.id)).toEqual(sorted);
  // From after an id (present, removed, or never there): the same order, from the next one on.
  for (const after of [sorted[0], sorted[Math.floor(sorted.length / 2)], 'id-000050x', 'id-', 'id-999999']) {
    if (after === undefined) continue;
    expect(
      [...index.valuesAfter(after)].map((e) => e.id),
      after,
    ).toEqual(sorted.filter((id) => id > after));
  }
  expect(index.size).toBe(sorted.length);
  expect(index.last()).toBe(sorted[sorted.length - 1]);
  for (const id of sorted) expect(index.get(id)).toBe(model.get(id));
  const entries = sorted.map((id) => model.get(id)!);
  const pending = entries.filter((e) => e.status === 'PENDING');
  const rebuilt = new LaneIndex(); // the checksum kept along the way against one summed afresh
  for (const e of entries) rebuilt.set(e);
  expect(index.summary()).toEqual({
    checksum: rebuilt.summary().checksum,
    entries: entries.length,
    notPending: entries.length - pending.length,
    pendingBytes: pending.reduce((sum, e) => sum + (e.size ?? 0), 0),
    ...(entries.length > 0 ? { oldest: entries[0], newest: sorted[sorted.length - 1] } : {}),
  });
}

describe('LaneIndex', () => {
  it('keeps id order whatever the order of sets and deletes (random operations against a sorted model)', () => {
    const random = seeded(7);
    const index = new LaneIndex();
    const model = new Map<string, JournalEntry>();
    let next = 0;
    for (let step = 0; step < 4000; step++) {
      const r = random();
      if (r < 0.45) {
        const e = entry(next++); // the usual case: newest
        index.set(e);
        model.set(e.id, e);
      } else if (r < 0.55) {
        // Older, or an update of a live entry (sometimes to another status: the summary's counts follow).
        const e = entry(Math.floor(random() * (next + 1)), `~${step}`, random() < 0.3 ? 'CONFLICT' : 'PENDING');
        index.set(e);
        model.set(e.id, e);
      } else {
        const ids = [...model.keys()].sort();
        if (ids.length === 0) continue;
        // Mostly near the front (a draining lane), sometimes anywhere, sometimes an id that is not there.
        const at = r < 0.85 ? Math.floor(random() * Math.min(8, ids.length)) : Math.floor(random() * ids.length);
        const id = r < 0.97 ? ids[at]! : entry(next + 5).id;
        index.delete(id);
        model.delete(id);
      }
      if (step % 97 === 0) expectSameAs(index, model);
    }
    expectSameAs(index, model);
  });

  it('slices after an id (live or removed) and up to a limit, skipping removed entries', () => {
    const index = new LaneIndex();
    for (let n = 0; n < 100; n++) index.set(entry(n));
    for (let n = 0; n < 100; n += 3) index.delete(entry(n).id);
    const live = Array.from({ length: 100 }, (_, n) => n).filter((n) => n % 3 !== 0);
    expect(index.slice(undefined, 5).map((e) => e.id)).toEqual(live.slice(0, 5).map((n) => entry(n).id));
    expect(index.slice(entry(10).id, 3).map((e) => e.id)).toEqual([11, 13, 14].map((n) => entry(n).id));
    expect(index.slice(entry(9).id, 2).map((e) => e.id)).toEqual([10, 11].map((n) => entry(n).id)); // 9 removed
    expect(index.slice(entry(98).id, 10).map((e) => e.id)).toEqual([]);
  });

  it('a removed id set again comes back in its place, once', () => {
    const index = new LaneIndex();
    for (let n = 0; n < 50; n++) index.set(entry(n));
    for (let n = 0; n < 40; n++) index.delete(entry(n).id); // compacts on the way
    index.set(entry(45, 'updated'));
    index.set(entry(20));
    index.set(entry(3));
    expect([...index.values()].map((e) => e.id)).toEqual(
      [3, 20, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49].map((n) => entry(n).id),
    );
    expect(index.get(entry(45).id)?.path).toBe('/f45updated');
    index.delete(entry(3).id);
    index.delete(entry(3).id); // twice: nothing more happens
    expect(index.size).toBe(11);
  });

  it('empties and fills again', () => {
    const index = new LaneIndex();
    for (let round = 0; round < 3; round++) {
      for (let n = 0; n < 200; n++) index.set(entry(round * 1000 + n));
      for (let n = 199; n >= 0; n--) index.delete(entry(round * 1000 + n).id); // newest first, this time
      expect(index.size).toBe(0);
      expect(index.last()).toBeUndefined();
      expect([...index.values()]).toEqual([]);
    }
  });
});
