import { afterEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import type { PeerState } from '../../src/core/peer.js';
import type { PeerHealth } from '../../src/core/peer-health.js';
import { Pinger } from '../../src/core/pinger.js';
import type { Replayer } from '../../src/core/replayer.js';

afterEach(() => {
  vi.useRealTimers();
});

/** A peer that stays down; each probe takes `probeMs` of (fake) time. */
function downPeer(probeMs: number) {
  const probes: number[] = [];
  const health = {
    current: () => 'OFFLINE',
    waiting: () => false, // no Retry-After
    close: () => {},
    state: async () => ({ status: 'OFFLINE' }) as PeerState,
    ping: async () => {
      probes.push(Date.now());
      await new Promise((r) => setTimeout(r, probeMs));
      return { status: 'OFFLINE' } as PeerState;
    },
  } as unknown as PeerHealth;
  const replayer = { schedulePeer: () => {}, sweep: async () => {} } as unknown as Replayer;
  return { pinger: new Pinger(health, replayer, silentLogger), probes };
}

describe('pinger', () => {
  it('probes a peer that is down once per interval, never more, also when a probe outlasts the interval', async () => {
    vi.useFakeTimers();
    for (const probeMs of [10, 2_500]) {
      const { pinger, probes } = downPeer(probeMs);
      pinger.start([{ peer: 'server2', intervalSeconds: 1 }]);
      await vi.advanceTimersByTimeAsync(10_000);
      pinger.stop();
      // Fast probes: one at start, then one per second. Slow ones: never two at once, so fewer.
      if (probeMs < 1_000) expect(probes).toHaveLength(11);
      else expect(probes.length).toBeLessThanOrEqual(11);
      for (let i = 1; i < probes.length; i++) expect(probes[i]! - probes[i - 1]!).toBeGreaterThanOrEqual(1_000);
    }
  });
});
