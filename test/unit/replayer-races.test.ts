import { afterEach, expect, it, vi } from 'vitest';
import { FsJournalStore } from '../../src/adapters/fs-journal/store.js';
import type { JournalEntry } from '../../src/core/entry.js';
import type { JournalStore } from '../../src/core/journal.js';
import { silentLogger } from '../../src/core/logger.js';
import type { Peer, ReplayOutcome } from '../../src/core/peer.js';
import { PeerHealth } from '../../src/core/peer-health.js';
import { Pinger } from '../../src/core/pinger.js';
import { Replayer } from '../../src/core/replayer.js';
import { entry } from '../support/journal-conformance.js';
import { tempDir } from '../support/tmp.js';

// Three races of the embedded replayer (found by a review): autoPlay probed a peer whose Retry-After was running
// (and ended its wait with the first new change); a ring whose read of an entry straddled that entry's replay put
// the purged entry back and sent it again; a request ending after stop() armed a backoff timer.

afterEach(() => {
  vi.useRealTimers();
});

it('autoPlay: a new change does not probe a peer while its Retry-After runs (nor end the wait)', async () => {
  vi.useFakeTimers();
  let probes = 0;
  const peer: Peer = {
    name: 'server2',
    probe: async (): Promise<ReplayOutcome> => {
      probes += 1;
      return { kind: 'applied' };
    },
    apply: async (): Promise<ReplayOutcome> => ({ kind: 'applied' }),
    close: async () => {},
  };
  const peers = new Map([['server2', peer]]);
  const health = new PeerHealth(peers, silentLogger);
  const e = entry({ path: '/user_homes/a' });
  const store = { read: async () => ({ ...e }) } as unknown as JournalStore;
  let pinger: Pinger | undefined;
  // Wired as src/runtime/embedded.ts wires it with autoPlay: true.
  const replayer = new Replayer({
    store,
    peers,
    health,
    logger: silentLogger,
    onEntryForDownPeer: (p) => void pinger?.ping(p),
  });
  pinger = new Pinger(health, replayer, silentLogger);

  health.record('server2', { kind: 'offline', reason: 'PUT /x: HTTP 429', status: 429, retryAfterMs: 60_000 });
  expect(health.waiting('server2')).toBe(true);
  await replayer.ring([e]); // a node posts a change meanwhile
  await vi.advanceTimersByTimeAsync(0);
  expect(probes).toBe(0); // the peer asked for 60 s
  expect(health.current('server2')).toBe('OFFLINE');
  pinger.stop();
  await replayer.stop();
});

it('stop(): a request that ends after stop leaves no backoff timer behind', async () => {
  const tmp = await tempDir();
  const fs = await FsJournalStore.open(tmp.dir);
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let started = 0;
  const peer: Peer = {
    name: 'server2',
    probe: async (): Promise<ReplayOutcome> => ({ kind: 'applied' }),
    apply: async (): Promise<ReplayOutcome> => {
      started += 1;
      await gate;
      return { kind: 'offline', reason: 'PUT: HTTP 500', status: 500 };
    },
    close: async () => {},
  };
  const peers = new Map([['server2', peer]]);
  const health = new PeerHealth(peers, silentLogger);
  const replayer = new Replayer({ store: fs, peers, health, logger: silentLogger, retryBaseMs: 3_600_000 });
  try {
    await fs.create([entry({ path: '/user_homes/b' })]);
    await replayer.sweep();
    expect(started).toBe(1);
    const stopped = replayer.stop(60_000);
    release();
    await stopped; // waits for the request in flight
    const backoff = (replayer as unknown as { backoff: Map<string, unknown> }).backoff;
    expect(backoff.size).toBe(0); // no timer armed after stop()
  } finally {
    health.close();
    await fs.close();
    await tmp.remove();
  }
});

it("a ring whose read of the entry straddles that entry's replay does not send it a second time", async () => {
  const tmp = await tempDir();
  const fs = await FsJournalStore.open(tmp.dir);
  let openRead: () => void = () => {};
  const readGate = new Promise<void>((r) => {
    openRead = r;
  });
  // A store whose read takes a while (as the sweep's own guard assumes a listing may): the snapshot is taken first.
  const store = new Proxy(fs, {
    get: (t, key) =>
      key === 'read'
        ? async (ref: JournalEntry) => {
            const snapshot = await fs.read(ref);
            await readGate;
            return snapshot;
          }
        : Reflect.get(t, key),
  }) as JournalStore;
  let releaseApply: () => void = () => {};
  const applyGate = new Promise<void>((r) => {
    releaseApply = r;
  });
  const sent: string[] = [];
  const peer: Peer = {
    name: 'server2',
    probe: async (): Promise<ReplayOutcome> => ({ kind: 'applied' }),
    apply: async (e): Promise<ReplayOutcome> => {
      sent.push(e.id);
      await applyGate;
      return { kind: 'applied' };
    },
    close: async () => {},
  };
  const peers = new Map([['server2', peer]]);
  const health = new PeerHealth(peers, silentLogger);
  const replayer = new Replayer({ store, peers, health, logger: silentLogger });
  try {
    const e = entry({ action: 'delete', path: '/user_homes/c' });
    await fs.create([e]);
    await replayer.sweep();
    expect(sent).toEqual([e.id]);
    const rung = replayer.ring([e]); // a second ring for it (a release, a job) while its request is out
    releaseApply();
    for (let i = 0; i < 1000 && (replayer.inFlight > 0 || (await fs.read(e))); i++) {
      await new Promise((r) => setImmediate(r));
    }
    expect(await fs.read(e)).toBeUndefined(); // applied and purged
    openRead();
    await rung;
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    expect(sent).toEqual([e.id]); // not the stale copy again
  } finally {
    await replayer.stop();
    health.close();
    await fs.close();
    await tmp.remove();
  }
});
