import { describe, expect, it } from 'vitest';
import { DeleteGuard, deleteOrigin, MemoryDeleteWindows } from '../../src/core/delete-guard.js';
import type { JournalEntry } from '../../src/core/entry.js';
import { decodeEntry, encodeEntry } from '../../src/core/entry-xml.js';
import { countEntries } from '../../src/core/folder-delete-guard.js';
import type { TreeReader } from '../../src/core/jobs/tree.js';

/** A clock the test moves by hand: the window slides only when the test says so. */
function manualClock(start = Date.parse('2026-01-01T00:00:00Z')) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

function guard(maxDeletes: number, windowSeconds: number, clock = manualClock()) {
  return { guard: new DeleteGuard({ maxDeletes, windowSeconds }, new MemoryDeleteWindows(), clock.now), clock };
}

describe('DeleteGuard', () => {
  it('passes maxDeletes within the window, holds the next one and every later one until re-armed', async () => {
    const { guard: g, clock } = guard(3, 60);
    const verdicts = [];
    for (let i = 0; i < 5; i++) verdicts.push(await g.admit('node-a'));
    expect(verdicts.map((v) => v.pass)).toEqual([1, 1, 1, 0, 0]);
    expect(verdicts[3]).toMatchObject({ tripped: true, reason: expect.stringContaining('node node-a') });
    expect(verdicts[4]!.tripped).toBeUndefined();
    // Tripped means tripped: a window that has long passed does not let the node through again.
    clock.advance(3600_000);
    expect((await g.admit('node-a')).pass).toBe(0);
    expect(await g.tripped('node-a')).toBe(true);
    // Another node has its own window.
    expect((await g.admit('node-b')).pass).toBe(1);
    await g.rearm('node-a');
    expect((await g.admit('node-a')).pass).toBe(1);
  });

  it('slides: deletes older than the window no longer count', async () => {
    const { guard: g, clock } = guard(3, 60);
    for (let i = 0; i < 3; i++) expect((await g.admit('n')).pass).toBe(1);
    clock.advance(30_000);
    expect(await g.tripped('n')).toBe(false);
    clock.advance(31_000); // 61 s after the first three
    for (let i = 0; i < 3; i++) expect((await g.admit('n')).pass).toBe(1);
    expect((await g.admit('n')).pass).toBe(0);
  });

  it('counts a delete for at least windowSeconds, also one made at the end of a step', async () => {
    // Its step was dropped up to a step early: 2 × maxDeletes passed within 59.001 s (found by a review).
    const { guard: g, clock } = guard(3, 60, manualClock(Date.parse('2026-01-01T00:00:00.999Z')));
    for (let i = 0; i < 3; i++) expect((await g.admit('n')).pass).toBe(1);
    clock.advance(59_001);
    expect((await g.admit('n')).pass).toBe(0);
  });

  it('admits a batch in part (a resync job): the first ones pass, the rest are held', async () => {
    const { guard: g } = guard(10, 60);
    expect(await g.admit('job:x', 4)).toEqual({ pass: 4 });
    expect(await g.admit('job:x', 10)).toMatchObject({ pass: 6, tripped: true });
    expect((await g.admit('job:x', 2)).pass).toBe(0);
  });

  it('maxDeletes 0 turns it off', async () => {
    const { guard: g } = guard(0, 60);
    for (let i = 0; i < 100; i++) expect((await g.admit('n')).pass).toBe(1);
    expect(g.enabled).toBe(false);
  });

  it('trip (a restart finding held deletes) holds the next delete at once', async () => {
    const { guard: g } = guard(1000, 60);
    await g.trip('node-a', 'held before a restart');
    expect(await g.admit('node-a')).toEqual({ pass: 0, reason: 'held before a restart' });
  });

  it('names origins: a node, the admin token, a resync job', () => {
    expect(deleteOrigin({ node: 'node-a' })).toBe('node-a');
    expect(deleteOrigin({})).toBe('');
    expect(deleteOrigin({ job: 'J', node: undefined })).toBe('job:J');
  });
});

describe('config.XML of a held entry', () => {
  const base: JournalEntry = {
    id: '20260101T000000000Z-000000-000000',
    lane: '0123456789abcdef',
    peer: 'server2',
    location: '/user_homes',
    action: 'delete',
    path: '/user_homes/a',
    createdAt: '2026-01-01T00:00:00.000Z',
    status: 'HELD',
    hold: 'window',
    lastError: 'delete guard: node node-a sent more than 50 deletes within 60 s',
    attempts: 0,
  };

  it('round-trips HELD, the rule and the release mark', () => {
    expect(decodeEntry(encodeEntry(base))).toEqual(base);
    const released = { ...base, status: 'PENDING' as const, released: true };
    expect(decodeEntry(encodeEntry(released))).toEqual(released);
    expect(encodeEntry({ ...base, released: false })).not.toContain('released');
  });

  it('refuses an unknown rule or release mark', () => {
    expect(() => decodeEntry(encodeEntry(base).replace('>window<', '>burst<'))).toThrow(/unknown hold/);
    expect(() => decodeEntry(encodeEntry({ ...base, released: true }).replace('>true<', '>yes<'))).toThrow(/released/);
  });
});

describe('countEntries (the folder rule)', () => {
  /** A tree of `fanOut` folders of `files` files each; records every folder listed. */
  function tree(fanOut: number, files: number) {
    const listed: string[] = [];
    const reader: TreeReader = {
      name: 'fake',
      stat: async (path) => (path.startsWith('/big') ? { name: 'x', type: 'dir' as const } : undefined),
      checksum: async () => '',
      close: async () => {},
      list: async (path) => {
        listed.push(path);
        if (path === '/big') return Array.from({ length: fanOut }, (_, i) => ({ name: `d${i}`, type: 'dir' as const }));
        if (path.startsWith('/big/d')) {
          return Array.from({ length: files }, (_, i) => ({ name: `f${i}`, type: 'file' as const, size: 1 }));
        }
        return undefined; // a file, or nothing there
      },
    };
    return { reader, listed };
  }

  it('counts folder by folder and stops at the limit', async () => {
    const { reader, listed } = tree(12, 10);
    expect(await countEntries(reader, '/big', 51)).toBe(51);
    // 12 folders, then 10 files per folder listed: the fourth folder reaches 51, the other eight are never listed.
    expect(listed).toHaveLength(5);
    expect(await countEntries(reader, '/big', 1000)).toBe(132);
  });

  it('counts 0 for a file or a missing path', async () => {
    const { reader } = tree(1, 1);
    expect(await countEntries(reader, '/a.txt', 51)).toBe(0);
  });
});
