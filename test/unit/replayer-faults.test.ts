import { afterEach, expect, it } from 'vitest';
import { FsJournalStore } from '../../src/adapters/fs-journal/store.js';
import type { JournalEntry } from '../../src/core/entry.js';
import { silentLogger } from '../../src/core/logger.js';
import { OperatorActions } from '../../src/core/operator.js';
import type { Peer, ReplayOutcome } from '../../src/core/peer.js';
import { PeerHealth } from '../../src/core/peer-health.js';
import { Replayer } from '../../src/core/replayer.js';
import { entry } from '../support/journal-conformance.js';
import { tempDir } from '../support/tmp.js';

/** Holds its first request (a slow folder DELETE) until the test lets it go; answers the rest at once. */
class SlowFirstPeer implements Peer {
  readonly name = 'server2';
  started: string[] = [];
  finished: string[] = [];
  release: () => void = () => {};
  private readonly first = new Promise<void>((resolve) => {
    this.release = resolve;
  });
  async probe(): Promise<ReplayOutcome> {
    return { kind: 'applied' };
  }
  async apply(e: JournalEntry): Promise<ReplayOutcome> {
    this.started.push(`${e.action} ${e.path}`);
    if (this.started.length === 1) await this.first;
    this.finished.push(`${e.action} ${e.path}`);
    return { kind: 'applied' };
  }
  async close() {}
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !condition(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(condition()).toBe(true);
}

it('an entry skipped while its request is out holds back what overlaps it until the request ends', async () => {
  const tmp = await tempDir();
  const store = await FsJournalStore.open(tmp.dir);
  const peer = new SlowFirstPeer();
  const peers = new Map([['server2', peer]]);
  const replayer = new Replayer({ store, peers, health: new PeerHealth(peers, silentLogger), logger: silentLogger });
  cleanups.push(async () => {
    peer.release();
    await replayer.stop();
    await store.close();
    await tmp.remove();
  });
  const del = entry({ action: 'delete', path: '/user_homes/john/big' });
  const mk = entry({ action: 'makedir', path: '/user_homes/john/big/new' });
  await store.create([del, mk]);
  await replayer.sweep();
  await until(() => peer.started.length === 1);
  expect(peer.started).toEqual(['delete /user_homes/john/big']); // the makedir waits behind it

  // The operator skips the slow delete while its DELETE is on the wire: a dispatch runs as the skip rings.
  const operator = new OperatorActions(store, replayer, async (id) =>
    (await store.list(del.lane)).filter((e) => e.id === id),
  );
  await operator.skip(del.id);
  expect(peer.started).toEqual(['delete /user_homes/john/big']);
  peer.release();
  await until(() => peer.finished.length === 2);
  // The folder's DELETE ended before the MKCOL below it began: the new folder stays.
  expect(peer.finished).toEqual(['delete /user_homes/john/big', 'makedir /user_homes/john/big/new']);
  expect(peer.started).toEqual(peer.finished);
  expect(await store.list(del.lane)).toEqual([]);
});

it('an outcome the journal cannot record (disk full) sends the entry again only after a wait, not at once', async () => {
  const tmp = await tempDir();
  const fs = await FsJournalStore.open(tmp.dir);
  const store = new Proxy(fs, {
    get: (target, key) =>
      key === 'update'
        ? async () => {
            throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
          }
        : Reflect.get(target, key),
  });
  let requests = 0;
  const peer: Peer = {
    name: 'server2',
    probe: async (): Promise<ReplayOutcome> => ({ kind: 'applied' }),
    apply: async (): Promise<ReplayOutcome> => {
      requests += 1;
      await new Promise((r) => setImmediate(r)); // answered over the network
      return { kind: 'conflict', reason: 'MKCOL: HTTP 409', status: 409 };
    },
    close: async () => {},
  };
  const peers = new Map([['server2', peer]]);
  const failures: unknown[] = [];
  const logger = { ...silentLogger, error: (message: string) => void failures.push(message) };
  const replayer = new Replayer({
    store,
    peers,
    health: new PeerHealth(peers, silentLogger),
    logger,
    retryBaseMs: 3_600_000, // the wait outlasts the test: a second request would come from no wait at all
  });
  cleanups.push(async () => {
    await replayer.stop();
    await fs.close();
    await tmp.remove();
  });
  await fs.create([entry({ action: 'makedir', path: '/user_homes/a/b' })]);
  await replayer.sweep();
  await until(() => failures.length === 1);
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  expect(failures).toEqual(['replay bookkeeping failed']);
  expect(requests).toBe(1);
});
