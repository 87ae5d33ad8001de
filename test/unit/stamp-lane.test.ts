import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CONFIG_LOCATION, isLaneId, laneId } from '../../src/core/lane.js';
import { isStamp, StampClock, stampTime } from '../../src/core/stamp.js';

describe('StampClock', () => {
  it('issues unique, strictly increasing stamps for a burst inside one millisecond', () => {
    const clock = new StampClock(() => Date.UTC(2026, 10, 27, 5, 54, 29, 693));
    const stamps = Array.from({ length: 10_000 }, () => clock.next());
    expect(new Set(stamps).size).toBe(stamps.length);
    expect([...stamps].sort()).toEqual(stamps);
    expect(stamps[0]).toMatch(/^20261127T055429693Z-000000-[0-9a-f]{6}$/);
    expect(stamps.every(isStamp)).toBe(true);
  });

  it('never goes backwards when the wall clock does', () => {
    let now = Date.UTC(2026, 10, 27, 6, 0, 0, 500);
    const clock = new StampClock(() => now);
    const before = clock.next();
    now -= 60_000; // NTP step back by a minute
    const after = clock.next();
    expect(after > before).toBe(true);
    expect(stampTime(after).getTime()).toBe(Date.UTC(2026, 10, 27, 6, 0, 0, 500));
  });

  it('continues after the newest stamp of a previous run (seeded from the journal)', () => {
    const earlier = new StampClock(() => Date.UTC(2030, 0, 1));
    const newest = earlier.next();
    const restarted = new StampClock(() => Date.UTC(2026, 0, 1)); // clock behind the journal
    restarted.seed(newest);
    const next = restarted.next();
    expect(next > newest).toBe(true);
  });

  it('rolls into the next millisecond when a million stamps share one', () => {
    const clock = new StampClock(() => 0);
    clock.seed('19700101T000000000Z-999999-000000');
    const next = clock.next();
    expect(next.startsWith('19700101T000000001Z-000000-')).toBe(true);
  });

  it('keeps lexical order equal to time order across the calendar', () => {
    const times = [
      Date.UTC(2026, 0, 1),
      Date.UTC(2026, 8, 30, 23, 59, 59, 999),
      Date.UTC(2026, 9, 1),
      Date.UTC(2027, 0, 1),
    ];
    const stamps = times.map((t) => new StampClock(() => t).next());
    expect([...stamps].sort()).toEqual(stamps);
    expect(stamps.map((s) => stampTime(s).getTime())).toEqual(times);
  });
});

describe('StampClock time field', () => {
  it('is the ISO time without separators, for every millisecond of a second and across seconds', () => {
    const start = Date.UTC(2026, 11, 31, 23, 59, 58, 0);
    let now = start;
    const clock = new StampClock(() => now);
    // Every millisecond of 2.5 seconds with a new year among them, then a jump months ahead.
    const times = [...Array.from({ length: 2500 }, (_, i) => start + i), Date.UTC(2027, 5, 1, 12, 0, 0, 7)];
    for (const t of times) {
      now = t;
      const stamp = clock.next();
      const expected = new Date(t).toISOString().replace(/[-:.]/g, '');
      expect(stamp.slice(0, expected.length)).toBe(expected);
      expect(stampTime(stamp).getTime()).toBe(t);
    }
  });
});

describe('laneId', () => {
  it('is a stable 16-hex-digit hash of location and peer', () => {
    const lane = laneId('/user_homes', 'server2');
    expect(isLaneId(lane)).toBe(true);
    expect(laneId('/user_homes', 'server2')).toBe(lane);
    // Fixed value: the README documents the scheme, so a change here breaks existing journals.
    expect(lane).toBe(createHash('sha256').update('/user_homes\nserver2').digest('hex').slice(0, 16));
  });

  it('differs by location and by peer, and the config pseudo-location has its own lanes', () => {
    const lanes = new Set([
      laneId('/user_homes', 'server2'),
      laneId('/user_homes', 'server3'),
      laneId('/shared', 'server2'),
      laneId(CONFIG_LOCATION, 'server2'),
    ]);
    expect(lanes.size).toBe(4);
  });
});
