import { describe, expect, it } from 'vitest';
import { ThroughputMeter } from '../../src/core/throughput.js';

/** A clock the test moves by hand (ms since the epoch), starting on a bucket boundary. */
function clock(start = Date.parse('2026-12-01T10:00:00Z')) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('ThroughputMeter', () => {
  it('counts changes and bytes per peer into closed buckets, oldest first', () => {
    const time = clock();
    const meter = new ThroughputMeter(['a', 'b'], { intervalSeconds: 10, buckets: 3, now: time.now });

    meter.record('a', 100);
    meter.record('a', 50);
    time.advance(10_000);
    meter.record('b', 7);
    meter.record('a', 1);
    time.advance(10_000);

    const series = meter.series();
    expect(series.intervalSeconds).toBe(10);
    expect(series.from).toBe('2026-12-01T09:59:50.000Z');
    expect(series.peers).toEqual([
      { peer: 'a', changes: [0, 2, 1], bytes: [0, 150, 1] },
      { peer: 'b', changes: [0, 0, 1], bytes: [0, 0, 7] },
    ]);
  });

  it('leaves the open bucket out until it closes', () => {
    const time = clock();
    const meter = new ThroughputMeter(['a'], { intervalSeconds: 5, buckets: 2, now: time.now });
    meter.record('a', 3);
    expect(meter.series().peers[0]!.changes).toEqual([0, 0]);
    time.advance(5_000);
    expect(meter.series().peers[0]!.changes).toEqual([0, 1]);
  });

  it('forgets buckets older than the window, also after a long quiet spell that reuses their slots', () => {
    const time = clock();
    const meter = new ThroughputMeter(['a'], { intervalSeconds: 1, buckets: 3, now: time.now });
    meter.record('a', 1);
    time.advance(4_000); // the slot of the first bucket comes round again
    meter.record('a', 2);
    time.advance(1_000);
    expect(meter.series().peers[0]).toEqual({ peer: 'a', changes: [0, 0, 1], bytes: [0, 0, 2] });
    time.advance(3_600_000);
    expect(meter.series().peers[0]).toEqual({ peer: 'a', changes: [0, 0, 0], bytes: [0, 0, 0] });
  });

  it('ignores peers it was not built for (memory stays peers × buckets)', () => {
    const time = clock();
    const meter = new ThroughputMeter(['a'], { intervalSeconds: 1, buckets: 2, now: time.now });
    meter.record('stranger', 10);
    time.advance(1_000);
    expect(meter.series().peers.map((p) => p.peer)).toEqual(['a']);
  });
});
