import { afterEach, describe, expect, it, vi } from 'vitest';
import { FsJournalStore } from '../../src/adapters/fs-journal/store.js';
import type { JournalEntry } from '../../src/core/entry.js';
import { silentLogger } from '../../src/core/logger.js';
import type { Peer, PeerStatus, ReplayOutcome } from '../../src/core/peer.js';
import { PeerHealth } from '../../src/core/peer-health.js';
import { Pinger } from '../../src/core/pinger.js';
import { Replayer } from '../../src/core/replayer.js';
import { entry } from '../support/journal-conformance.js';
import { waitFor } from '../support/node-client.js';
import { tempDir } from '../support/tmp.js';

// The replay policy (src/core/replay-outcome.ts) as the embedded replayer applies it, end to end with a real
// journal: 401/403 on one request, changes that keep failing, peers that are down, Retry-After.

/** A peer scripted per path; its probe answers `probeAnswer`. */
class ScriptedPeer implements Peer {
  readonly name = 'server2';
  readonly applied: string[] = [];
  readonly attempts = new Map<string, number>();
  probes = 0;
  probeAnswer: ReplayOutcome = { kind: 'applied' };
  /** Answers for the next probes, before `probeAnswer` applies again. */
  readonly nextProbes: ReplayOutcome[] = [];
  constructor(private readonly answer: (entry: JournalEntry, attempt: number) => Promise<ReplayOutcome>) {}
  async probe(): Promise<ReplayOutcome> {
    this.probes += 1;
    return this.nextProbes.shift() ?? this.probeAnswer;
  }
  async apply(e: JournalEntry): Promise<ReplayOutcome> {
    const attempt = (this.attempts.get(e.path) ?? 0) + 1;
    this.attempts.set(e.path, attempt);
    const outcome = await this.answer(e, attempt);
    if (outcome.kind === 'applied') this.applied.push(e.path);
    return outcome;
  }
  async close(): Promise<void> {}
}

const applied: ReplayOutcome = { kind: 'applied' };
const forbidden = (path: string): ReplayOutcome => ({
  kind: 'unauthorized',
  reason: `PUT ${path}: HTTP 403`,
  status: 403,
});

async function rig(peer: ScriptedPeer) {
  const tmp = await tempDir();
  const store = await FsJournalStore.open(tmp.dir);
  const peers = new Map([['server2', peer as Peer]]);
  const health = new PeerHealth(peers, silentLogger);
  const statuses: PeerStatus[] = [];
  health.onChange((_peer, state) => statuses.push(state.status));
  const replayer = new Replayer({ store, peers, health, logger: silentLogger, retryBaseMs: 20, retryMaxMs: 100 });
  const add = async (...entries: JournalEntry[]) => {
    await store.create(entries);
    await replayer.ring(entries);
  };
  const close = async () => {
    await replayer.stop();
    health.close();
    await store.close();
    await tmp.remove();
  };
  return { store, health, replayer, statuses, add, close };
}

describe('embedded replayer: one refused path never takes a peer down', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  it('parks a change the peer answers 403 for as CONFLICT at once when a probe passes; the rest goes on', async () => {
    const bad = `/user_homes/${'long name '.repeat(60)}`; // its reason is longer than the 500 characters kept
    const peer = new ScriptedPeer(async (e) => (e.path === bad ? forbidden(e.path) : applied));
    const r = await rig(peer);
    cleanups.push(r.close);
    const refused = entry({ action: 'makedir', path: bad });
    const others = ['/user_homes/a', '/user_homes/b', '/user_homes/c'].map((path) =>
      entry({ action: 'makedir', path }),
    );
    await r.add(refused, ...others);

    await waitFor(async () => (await r.store.read(refused))?.status === 'CONFLICT' && peer.applied.length === 3, 5000);
    expect(await r.store.read(refused)).toMatchObject({ attempts: 1, lastStatus: 403 });
    expect(peer.attempts.get(bad)).toBe(1);
    expect(peer.probes).toBe(1);
    expect(r.statuses).toEqual([]); // never UNAUTHORIZED, not even for a moment
    expect(r.health.current('server2')).toBe('ONLINE');
  });

  it('a 401 that the probe confirms makes the peer UNAUTHORIZED and parks nothing; fixed, it drains', async () => {
    let credentialsWork = false;
    const peer = new ScriptedPeer(async (e) =>
      credentialsWork ? applied : { kind: 'unauthorized', reason: `PUT ${e.path}: HTTP 401`, status: 401 },
    );
    peer.probeAnswer = { kind: 'unauthorized', reason: 'PROPFIND /: HTTP 401', status: 401 };
    const r = await rig(peer);
    cleanups.push(r.close);
    const e = entry({ action: 'makedir', path: '/user_homes/x' });
    await r.add(e);

    await waitFor(async () => r.health.current('server2') === 'UNAUTHORIZED' && r.replayer.inFlight === 0, 5000);
    expect(await r.store.read(e)).toMatchObject({ status: 'PENDING', attempts: 1, lastStatus: 401 });

    credentialsWork = true;
    peer.probeAnswer = applied;
    await r.health.ping('server2');
    await waitFor(async () => (await r.store.read(e)) === undefined, 5000);
    expect(peer.applied).toEqual(['/user_homes/x']);
  });

  it('parks a change that fails the same way 5 times while the peer applies others, backing off between', async () => {
    const poison = '/user_homes/poison';
    let serial = 0;
    let r!: Awaited<ReturnType<typeof rig>>;
    const peer = new ScriptedPeer(async (e, attempt) => {
      if (e.path !== poison) return applied;
      if (attempt > 1) {
        // Evidence that the peer works: another change applied after this one's previous failure.
        const other = entry({ action: 'makedir', path: `/user_homes/other-${serial++}` });
        await r.add(other);
        await waitFor(async () => peer.applied.includes(other.path), 5000);
      }
      return { kind: 'offline', reason: `PUT ${e.path}: HTTP 500`, status: 500 };
    });
    r = await rig(peer);
    cleanups.push(r.close);
    const e = entry({ action: 'upload', path: poison, size: 0 });
    await r.add(e);

    await waitFor(async () => (await r.store.read(e))?.status === 'CONFLICT', 10_000);
    expect(await r.store.read(e)).toMatchObject({ attempts: 5, repeats: 5, lastStatus: 500 });
    expect((await r.store.read(e))!.lastError).toMatch(/HTTP 500 \(5 attempts in a row/);
    expect(peer.attempts.get(poison)).toBe(5);
    expect(peer.probes).toBe(5); // one after each failure, each passed: the peer stayed ONLINE throughout
    expect(r.statuses).toEqual([]);
  });

  it('a peer that is down (the probe fails too) parks nothing: OFFLINE, the change stays PENDING', async () => {
    const peer = new ScriptedPeer(async (e) => ({ kind: 'offline', reason: `PUT ${e.path}: HTTP 500`, status: 500 }));
    peer.probeAnswer = { kind: 'offline', reason: 'ECONNREFUSED', code: 'ECONNREFUSED' };
    const r = await rig(peer);
    cleanups.push(r.close);
    const e = entry({ action: 'makedir', path: '/user_homes/x' });
    await r.add(e);
    for (let round = 1; round <= 8; round++) {
      await waitFor(async () => r.health.current('server2') === 'OFFLINE' && r.replayer.inFlight === 0, 5000);
      await waitFor(async () => (await r.store.read(e))?.attempts === round, 5000);
      if (round === 8) break;
      peer.nextProbes.push(applied); // a ping finds it back, and it falls again at once
      await r.health.ping('server2');
    }
    await waitFor(async () => r.replayer.inFlight === 0 && r.health.current('server2') === 'OFFLINE', 5000);
    const after = await r.store.read(e);
    expect(after).toMatchObject({ status: 'PENDING', attempts: 8 });
    expect(after!.repeats).toBeUndefined();
  });
});

describe('Retry-After', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('keeps the peer OFFLINE until Retry-After has passed, then probes it at once (not at the next ping)', async () => {
    vi.useFakeTimers();
    const peer = new ScriptedPeer(async () => applied);
    const health = new PeerHealth(new Map([['server2', peer as Peer]]), silentLogger);
    const pinger = new Pinger(health, { schedulePeer() {}, sweep: async () => {} } as never, silentLogger);
    pinger.start([{ peer: 'server2', intervalSeconds: 60 }]);
    await vi.advanceTimersByTimeAsync(0); // the start-up probe (ONLINE)
    peer.probes = 0;
    const heard: PeerStatus[] = [];
    health.onChange((_p, s) => heard.push(s.status));

    health.record('server2', { kind: 'offline', reason: 'PUT /a: HTTP 429', status: 429, retryAfterMs: 3000 });
    expect(health.current('server2')).toBe('OFFLINE');
    expect(health.waiting('server2')).toBe(true);
    // An answer to a request that was already in flight does not end the wait.
    health.record('server2', applied);
    expect(health.current('server2')).toBe('OFFLINE');

    await vi.advanceTimersByTimeAsync(2900);
    expect(peer.probes).toBe(0);
    await vi.advanceTimersByTimeAsync(200);
    expect(peer.probes).toBe(1);
    expect(health.current('server2')).toBe('ONLINE');
    expect(heard).toEqual(['OFFLINE', 'ONLINE']);
    pinger.stop();
  });

  it('scheduled pings leave a peer alone while its Retry-After runs', async () => {
    vi.useFakeTimers();
    const peer = new ScriptedPeer(async () => applied);
    peer.probeAnswer = { kind: 'offline', reason: 'PROPFIND /: HTTP 503', status: 503, retryAfterMs: 10_000 };
    const health = new PeerHealth(new Map([['server2', peer as Peer]]), silentLogger);
    const pinger = new Pinger(health, { schedulePeer() {}, sweep: async () => {} } as never, silentLogger);
    pinger.start([{ peer: 'server2', intervalSeconds: 1 }]);
    await vi.advanceTimersByTimeAsync(0); // the start-up probe: asked to wait too
    peer.probes = 0;

    health.record('server2', { kind: 'offline', reason: 'PUT /a: HTTP 503', status: 503, retryAfterMs: 10_000 });
    await vi.advanceTimersByTimeAsync(9500); // nine ticks of the 1 s ping: none probes
    expect(peer.probes).toBe(0);
    await vi.advanceTimersByTimeAsync(600);
    expect(peer.probes).toBe(1); // the wait is over: probed, and asked to wait again
    expect(health.waiting('server2')).toBe(true);
    pinger.stop();
  });

  it('is not cut short by the probe the replay policy makes after another request failed', async () => {
    vi.useFakeTimers();
    const peer = new ScriptedPeer(async () => applied);
    const health = new PeerHealth(new Map([['server2', peer as Peer]]), silentLogger);
    health.record('server2', { kind: 'offline', reason: 'PUT /a: HTTP 429', status: 429, retryAfterMs: 5000 });
    // A 500 to a request that was in flight: the policy would probe, but the peer asked to wait.
    expect(await health.probeStatus('server2')).toBe('OFFLINE');
    expect(peer.probes).toBe(0);
    await vi.advanceTimersByTimeAsync(5000);
    expect(peer.probes).toBe(1);
    expect(await health.probeStatus('server2')).toBe('ONLINE'); // no longer waiting: a real probe
    expect(peer.probes).toBe(2);
    health.close();
  });

  it('stretches Retry-After: 0 to a second and cuts a day to an hour', async () => {
    vi.useFakeTimers({ now: new Date('2026-12-01T10:00:00.000Z') });
    const health = new PeerHealth(new Map([['server2', new ScriptedPeer(async () => applied) as Peer]]), silentLogger);
    health.record('server2', { kind: 'offline', reason: '429', status: 429, retryAfterMs: 0 });
    expect((await health.state('server2')).retryAt).toBe('2026-12-01T10:00:01.000Z');
    health.record('server2', { kind: 'offline', reason: '503', status: 503, retryAfterMs: 86_400_000 });
    expect((await health.state('server2')).retryAt).toBe('2026-12-01T11:00:00.000Z');
    health.close();
  });
});
