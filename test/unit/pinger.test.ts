import { afterEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import type { Peer, PeerState, ReplayOutcome } from '../../src/core/peer.js';
import { PeerHealth } from '../../src/core/peer-health.js';
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

/** A real PeerHealth over a peer whose probe answers what `answer` says, counting probes. */
function onlinePeer() {
  const peer = {
    name: 'server2',
    answer: { kind: 'applied' } as ReplayOutcome,
    probes: 0,
    async probe(): Promise<ReplayOutcome> {
      peer.probes += 1;
      return peer.answer;
    },
    apply: async () => ({ kind: 'applied' }) as ReplayOutcome,
  };
  const health = new PeerHealth(new Map<string, Peer>([['server2', peer as unknown as Peer]]), silentLogger);
  const replayer = { schedulePeer: () => {}, sweep: async () => {} } as unknown as Replayer;
  return { pinger: new Pinger(health, replayer, silentLogger), health, peer };
}

describe('pinger and an ONLINE peer', () => {
  it('probes it on ticks when it applied nothing since the last, so that a peer gone down while idle shows', async () => {
    vi.useFakeTimers();
    const { pinger, health, peer } = onlinePeer();
    pinger.start([{ peer: 'server2', intervalSeconds: 60 }]);
    await vi.advanceTimersByTimeAsync(0);
    expect(peer.probes).toBe(1); // at start
    await vi.advanceTimersByTimeAsync(60_000);
    expect(peer.probes).toBe(2); // idle: probed
    expect((await health.state('server2')).lastPingAt).toBeDefined();

    // Busy: a change applied since the last tick is proof enough.
    await vi.advanceTimersByTimeAsync(30_000);
    health.record('server2', { kind: 'applied' });
    await vi.advanceTimersByTimeAsync(30_000);
    expect(peer.probes).toBe(2);

    // Gone down while idle: the next tick finds it.
    peer.answer = { kind: 'offline', reason: 'connect ECONNREFUSED' };
    await vi.advanceTimersByTimeAsync(60_000);
    expect(peer.probes).toBe(3);
    expect(await health.state('server2')).toMatchObject({ status: 'OFFLINE', lastError: 'connect ECONNREFUSED' });
    pinger.stop();
  });
});
