import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import type { Peer, PeerState, ReplayOutcome } from '../../src/core/peer.js';
import { nextPeerState, PeerHealth } from '../../src/core/peer-health.js';
import { seeded } from '../bench/stats.js';

const OUTCOMES: ReplayOutcome[] = [
  { kind: 'applied' },
  { kind: 'conflict', reason: '409 Conflict' },
  { kind: 'held', reason: 'delete guard' },
  { kind: 'bad_entry', reason: 'unreadable body' },
  { kind: 'offline', reason: 'ECONNREFUSED' },
  { kind: 'offline', reason: '503 Service Unavailable', retryAfterMs: 5000 },
  { kind: 'unauthorized', reason: '401 Unauthorized' },
];

describe('PeerHealth', () => {
  it('folds every outcome into the state nextPeerState gives, the shortcut for a healthy peer included', async () => {
    const random = seeded(14);
    let clock = Date.parse('2026-12-07T06:00:00.000Z');
    const peer = { name: 'p', probe: async () => ({ kind: 'applied' }) } as unknown as Peer;
    const health = new PeerHealth(new Map([['p', peer]]), silentLogger, () => new Date(clock));
    let model: PeerState = { status: 'ONLINE' };
    const heard: string[] = [];
    health.onChange((_, state) => heard.push(state.status));
    let changes = 0;
    for (let i = 0; i < 2000; i++) {
      clock += Math.floor(random() * 3000);
      // Mostly applied, as in a drain; now and then anything else, from a replay or a probe.
      const outcome = random() < 0.7 ? OUTCOMES[0]! : OUTCOMES[Math.floor(random() * OUTCOMES.length)]!;
      const probed = random() < 0.2;
      const next = nextPeerState(model, outcome, probed, new Date(clock).toISOString());
      if (next.status !== model.status) changes++;
      model = next;
      health.record('p', outcome, probed);
      expect(await health.state('p')).toEqual(model);
    }
    expect(heard).toHaveLength(changes);
    expect(changes).toBeGreaterThan(10);
  });

  it('knows when the peer last applied a change, from replays only', () => {
    let clock = Date.parse('2026-12-07T06:00:00.000Z');
    const health = new PeerHealth(new Map(), silentLogger, () => new Date(clock));
    expect(health.appliedSince('p', undefined)).toBe(false);
    health.record('p', { kind: 'applied' }, true); // a probe is not a replay
    expect(health.appliedSince('p', undefined)).toBe(false);
    health.record('p', { kind: 'applied' });
    expect(health.appliedSince('p', undefined)).toBe(true);
    expect(health.appliedSince('p', '2026-12-07T05:59:59.999Z')).toBe(true);
    expect(health.appliedSince('p', '2026-12-07T06:00:00.000Z')).toBe(false); // after, not at
    clock += 1;
    health.record('p', { kind: 'applied' });
    expect(health.appliedSince('p', '2026-12-07T06:00:00.000Z')).toBe(true);
  });
});
