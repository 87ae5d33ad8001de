import type { Readable } from 'node:stream';
import { expect, it } from 'vitest';
import { FsJournalStore } from '../../src/adapters/fs-journal/store.js';
import type { JournalEntry } from '../../src/core/entry.js';
import { silentLogger } from '../../src/core/logger.js';
import type { Peer, ReplayOutcome } from '../../src/core/peer.js';
import { PeerHealth } from '../../src/core/peer-health.js';
import { Replayer } from '../../src/core/replayer.js';
import { entry } from '../support/journal-conformance.js';
import { waitFor } from '../support/node-client.js';
import { tempDir } from '../support/tmp.js';

/** A peer whose credentials work (probes pass) but which forbids one path. */
class ForbiddingPeer implements Peer {
  readonly name = 'server2';
  applied = 0;
  async probe(): Promise<ReplayOutcome> {
    return { kind: 'applied' };
  }
  async apply(_entry: JournalEntry, _openBody: () => Promise<Readable>): Promise<ReplayOutcome> {
    this.applied += 1;
    return { kind: 'unauthorized', reason: 'MKCOL /user_homes/x/.DAV: HTTP 403' };
  }
  async close(): Promise<void> {}
}

it('parks an entry the peer keeps forbidding (403) as CONFLICT instead of flapping UNAUTHORIZED/ONLINE', async () => {
  const tmp = await tempDir();
  const store = await FsJournalStore.open(tmp.dir);
  const peer = new ForbiddingPeer();
  const health = new PeerHealth(new Map([['server2', peer]]), silentLogger);
  const replayer = new Replayer({ store, peers: new Map([['server2', peer]]), health, logger: silentLogger });
  const e = entry({ path: '/user_homes/x/.DAV' });
  await store.create([e]);

  await replayer.sweep();
  await waitFor(async () => health.current('server2') === 'UNAUTHORIZED' && replayer.inFlight === 0, 5_000);
  expect(await store.read(e)).toMatchObject({ status: 'PENDING', attempts: 1 });

  await health.ping('server2'); // the credentials are fine: ONLINE, and the lane is scheduled again
  await waitFor(async () => (await store.read(e))?.status === 'CONFLICT', 5_000);
  expect(await store.read(e)).toMatchObject({ attempts: 2, lastError: expect.stringMatching(/forbids this path/) });
  expect(health.current('server2')).toBe('ONLINE');
  expect(peer.applied).toBe(2);
  await replayer.stop();
  await store.close();
  await tmp.remove();
});
