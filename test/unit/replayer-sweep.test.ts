import { expect, it } from 'vitest';
import { FsJournalStore } from '../../src/adapters/fs-journal/store.js';
import type { JournalEntry } from '../../src/core/entry.js';
import type { JournalStore } from '../../src/core/journal.js';
import { silentLogger } from '../../src/core/logger.js';
import type { Peer, ReplayOutcome } from '../../src/core/peer.js';
import { PeerHealth } from '../../src/core/peer-health.js';
import { Replayer } from '../../src/core/replayer.js';
import { entry } from '../support/journal-conformance.js';
import { waitFor } from '../support/node-client.js';
import { tempDir } from '../support/tmp.js';

/** Applies everything at once and remembers what it was sent. */
class RecordingPeer implements Peer {
  readonly name = 'server2';
  readonly applied: string[] = [];
  async probe(): Promise<ReplayOutcome> {
    return { kind: 'applied' };
  }
  async apply(e: JournalEntry): Promise<ReplayOutcome> {
    this.applied.push(e.path);
    return { kind: 'applied' };
  }
  async close(): Promise<void> {}
}

/**
 * The journal changed behind the replayer's back (lost rings): what the next sweep — one per ping tick — must
 * find. Run against the file journal as it is (its O(1) lane counts and copy-free scan), and against the same
 * journal offering `list` alone (the full comparison every time).
 */
it.each([
  ['with the store counts', false],
  ['with list alone', true],
])('a sweep finds entries added, changed and purged without a ring (%s)', async (_name, listOnly) => {
  const tmp = await tempDir();
  const fs = await FsJournalStore.open(tmp.dir);
  const store: JournalStore = listOnly
    ? new Proxy(fs, { get: (t, key) => (key === 'summary' || key === 'scan' ? undefined : Reflect.get(t, key)) })
    : fs;
  const peer = new RecordingPeer();
  const health = new PeerHealth(new Map([['server2', peer]]), silentLogger);
  const replayer = new Replayer({ store, peers: new Map([['server2', peer]]), health, logger: silentLogger });
  const lane = entry().lane;
  const drained = () => waitFor(async () => (await fs.list(lane)).every((e) => e.status !== 'PENDING'), 5_000);
  try {
    // Known to the replayer: a conflict on /user_homes/y, with an entry below it waiting behind it.
    const conflict = entry({ path: '/user_homes/y', status: 'CONFLICT', attempts: 1 });
    const behind = entry({ path: '/user_homes/y/z' });
    await fs.create([entry({ path: '/user_homes/x1' }), conflict, behind]);
    await replayer.sweep();
    await waitFor(async () => peer.applied.includes('/user_homes/x1'), 5_000);
    expect(peer.applied).toEqual(['/user_homes/x1']);

    // Nothing changed: a sweep sends nothing again (a sweep dispatches at once, or not at all).
    await waitFor(async () => replayer.inFlight === 0, 5_000);
    await replayer.sweep();
    expect(replayer.inFlight).toBe(0);
    expect(peer.applied).toEqual(['/user_homes/x1']);

    // Added, and an operator's retry (CONFLICT -> PENDING), both without a ring.
    await fs.create([entry({ path: '/user_homes/x2' })]);
    await fs.update({ ...conflict, status: 'PENDING' });
    await replayer.sweep();
    await drained();
    await waitFor(async () => peer.applied.length === 4, 5_000);
    expect(peer.applied.slice(1).sort()).toEqual(['/user_homes/x2', '/user_homes/y', '/user_homes/y/z']);
    expect(peer.applied.indexOf('/user_homes/y')).toBeLessThan(peer.applied.indexOf('/user_homes/y/z'));

    // Purged while the peer was down: never sent once it is back, even when the lane is left empty.
    health.record('server2', { kind: 'offline', reason: 'test: down' });
    const gone = entry({ path: '/user_homes/gone' });
    const kept = entry({ path: '/user_homes/kept' });
    await fs.create([gone, kept]);
    await replayer.sweep(); // the replayer knows both
    await fs.purge(gone);
    await replayer.sweep();
    await fs.purge(kept);
    await replayer.sweep(); // the lane is empty now
    const late = entry({ path: '/user_homes/late' });
    await fs.create([late]);
    await replayer.sweep();
    await health.ping('server2');
    await waitFor(async () => peer.applied.includes('/user_homes/late'), 5_000);
    await drained();
    expect(peer.applied).not.toContain('/user_homes/gone');
    expect(peer.applied).not.toContain('/user_homes/kept');
  } finally {
    await replayer.stop();
    health.close();
    await fs.close();
    await tmp.remove();
  }
});

it('a sweep sees changes that leave the counts as they were, and keeps a lane rung for while it ran', async () => {
  const tmp = await tempDir();
  const fs = await FsJournalStore.open(tmp.dir);
  let release: (() => void) | undefined;
  let slow = false;
  // lanes() can take a while (a store doing I/O): a ring can land while a sweep waits on it.
  const store = new Proxy(fs, {
    get: (target, key) => {
      if (key !== 'lanes') return Reflect.get(target, key);
      return async () => {
        const lanes = await target.lanes();
        if (slow) await new Promise<void>((resolve) => (release = resolve));
        return lanes;
      };
    },
  });
  const peer = new RecordingPeer();
  const health = new PeerHealth(new Map([['server2', peer]]), silentLogger);
  const replayer = new Replayer({ store, peers: new Map([['server2', peer]]), health, logger: silentLogger });
  try {
    health.record('server2', { kind: 'offline', reason: 'test: down' });
    // Swapped states, unrung: the entry count, PENDING bytes and the count of others stay the same.
    const failed = entry({ path: '/user_homes/was-failed', status: 'FAILED', attempts: 2 });
    const pending = entry({ path: '/user_homes/was-pending', attempts: 2 });
    await fs.create([failed, pending]);
    await replayer.sweep();
    await fs.update({ ...failed, status: 'PENDING' });
    await fs.update({ ...pending, status: 'FAILED' });
    await replayer.sweep();

    // Another location's lane, rung while a sweep waits for the list of lanes it does not yet include.
    slow = true;
    const sweeping = replayer.sweep();
    await waitFor(async () => release !== undefined, 5_000);
    const config = entry({ lane: '00000000000000c0', location: 'config:', path: '/users/alice.xml' });
    await fs.create([config]);
    await replayer.ring([config]);
    release!();
    await sweeping;
    slow = false;

    await health.ping('server2');
    await waitFor(async () => peer.applied.length === 2, 5_000);
    await waitFor(async () => replayer.inFlight === 0, 5_000);
    expect(peer.applied.sort()).toEqual(['/user_homes/was-failed', '/users/alice.xml']);
  } finally {
    await replayer.stop();
    health.close();
    await fs.close();
    await tmp.remove();
  }
});

it('never sends twice an entry purged while a sweep waited for its listing (a store without scan)', async () => {
  const tmp = await tempDir();
  const fs = await FsJournalStore.open(tmp.dir);
  let gate: Promise<void> | undefined;
  let listed: (() => void) | undefined;
  // A listing taken at once and delivered when the test says (as from S3: a LIST takes a while).
  const store = new Proxy(fs, {
    get: (target, key) => {
      if (key === 'summary' || key === 'scan') return undefined;
      if (key !== 'list') return Reflect.get(target, key);
      return async (...args: Parameters<FsJournalStore['list']>) => {
        const snapshot = await target.list(...args);
        listed?.();
        if (gate) await gate;
        return snapshot;
      };
    },
  });
  const applied: string[] = [];
  let hold: (() => void) | undefined;
  const peer: Peer = {
    name: 'server2',
    probe: async () => ({ kind: 'applied' }),
    apply: async (e) => {
      await new Promise<void>((resolve) => (hold = resolve));
      applied.push(`${e.action} ${e.path}`);
      return { kind: 'applied' };
    },
    close: async () => {},
  };
  const health = new PeerHealth(new Map([['server2', peer]]), silentLogger);
  const replayer = new Replayer({ store, peers: new Map([['server2', peer]]), health, logger: silentLogger });
  try {
    const del = entry({ action: 'delete', path: '/user_homes/a.txt' });
    await fs.create([del]);
    await replayer.ring([del]);
    await waitFor(async () => hold !== undefined, 5_000); // being sent
    let open: () => void = () => {};
    gate = new Promise<void>((resolve) => (open = resolve));
    const taken = new Promise<void>((resolve) => (listed = resolve));
    const sweeping = replayer.sweep();
    await taken; // the listing holds the delete
    hold!();
    await waitFor(async () => replayer.inFlight === 0 && (await fs.list(del.lane)).length === 0, 5_000);
    open();
    await sweeping;
    expect(replayer.inFlight).toBe(0); // nothing dispatched again
    gate = undefined;
    await replayer.sweep(); // and the next tick agrees
    expect(replayer.inFlight).toBe(0);
    expect(applied).toEqual(['delete /user_homes/a.txt']);
  } finally {
    await replayer.stop();
    health.close();
    await fs.close();
    await tmp.remove();
  }
});
