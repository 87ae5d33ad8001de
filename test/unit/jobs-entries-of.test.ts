import { describe, expect, it } from 'vitest';
import type { JournalEntry } from '../../src/core/entry.js';
import { entriesOfJob } from '../../src/core/jobs/job-entries.js';
import type { JournalStore, ListOptions } from '../../src/core/journal.js';
import { StampClock, stampFloor } from '../../src/core/stamp.js';

const at = (ms: number) => new StampClock(() => ms).next();

describe('stampFloor', () => {
  it('sorts after every stamp of an earlier millisecond and before every stamp of that millisecond or later', () => {
    const ms = Date.UTC(2026, 11, 7, 15, 0, 0, 5);
    const floor = stampFloor(ms);
    expect(floor).toBe('20261207T150000005Z');
    expect(at(ms - 1) < floor).toBe(true);
    expect(at(ms) > floor).toBe(true);
    expect(at(ms + 1) > floor).toBe(true);
  });
});

describe('entriesOfJob', () => {
  it("reads only what was stamped since the job started (less the clock skew) and finds the job's entries", async () => {
    const now = Date.now();
    const job = at(now);
    const entry = (id: string, fields: Partial<JournalEntry> = {}): JournalEntry => ({
      id,
      lane: 'a'.repeat(16),
      peer: 'server2',
      location: '/user_homes',
      action: 'upload',
      path: `/user_homes/${id}`,
      createdAt: new Date().toISOString(),
      status: 'PENDING',
      attempts: 0,
      ...fields,
    });
    const backlog = Array.from({ length: 1000 }, (_, i) => entry(at(now - 3_600_000 + i))); // an hour old
    const skewed = entry(at(now - 60_000), { job }); // stamped by a slice whose clock runs a minute behind
    const mine = entry(at(now + 1_000), { job });
    const live = entry(at(now + 2_000));
    const other = entry(at(now + 3_000), { job: at(now - 1) });
    const all = [...backlog, skewed, mine, live, other];
    let read = 0;
    const store = {
      lanes: async () => ['a'.repeat(16)],
      list: async (_lane: string, options: ListOptions = {}) => {
        const out = all.filter((e) => options.after === undefined || e.id > options.after);
        read += out.length;
        return out;
      },
    } as unknown as JournalStore;
    expect((await entriesOfJob(store, job)).map((e) => e.id)).toEqual([skewed.id, mine.id]);
    expect(read).toBe(4); // the hour-old backlog was never read
  });
});
