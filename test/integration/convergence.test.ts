import { randomBytes } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { type ApachePeer, apacheAvailable, peerConfig, startApache } from '../support/apache.js';
import { allDifferences, jobEnd, makeFolder, sourceConfig, startJob, writeTree } from '../support/convergence.js';
import { startTestRelay, type TestRelay } from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const OLD = new Date('2024-03-01T10:00:00Z');

/** A source with a few folders of files, an empty peer, and a relay that knows both. */
async function cluster(): Promise<{ source: ApachePeer; peer: ApachePeer; relay: TestRelay }> {
  const source = await startApache();
  cleanups.push(() => source.close());
  const peer = await startApache();
  cleanups.push(() => peer.close());
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 30; i++) files[`user_homes/u${i % 3}/d${i % 2}/f${i}.bin`] = randomBytes(100 + i * 53);
  files['user_homes/empty/'] = Buffer.alloc(0);
  files['user_homes/name with spaces & ü.txt'] = Buffer.from('unicode name');
  await writeTree(source, files, OLD);
  await makeFolder(peer, 'user_homes');
  const relay = await startTestRelay({
    peers: [peerConfig(peer, 'server2')],
    sources: [sourceConfig(source, 'primary')],
  });
  cleanups.push(() => relay.close());
  return { source, peer, relay };
}

describeWithServer('Apache httpd (apt-get install apache2)', apacheAvailable, 'verify and resync', () => {
  it('an empty peer verifies all missing, resyncs to identical trees, then verifies identical', async () => {
    const { source, peer, relay } = await cluster();
    const sourceTree = await source.tree();

    const verify = await jobEnd(
      relay.url,
      await startJob(relay.url, 'verify', 'server2', { from: 'primary', path: '/user_homes' }),
    );
    expect(verify.status).toBe('DONE');
    const missing = await allDifferences(relay.url, verify.id, 7);
    const expected = [...sourceTree.keys()].filter((p) => p.startsWith('user_homes/')).map((p) => `/${p}`);
    expect(missing.map((d) => d.path).sort()).toEqual(expected.sort());
    expect(missing.every((d) => d.kind === 'missing' && d.peer === null)).toBe(true);
    expect(verify.counts).toMatchObject({ missing: expected.length, same: 0, different: 0, extra: 0 });

    const resync = await jobEnd(
      relay.url,
      await startJob(relay.url, 'resync', 'server2', { from: 'primary', path: '/user_homes' }),
    );
    expect(resync.status).toBe('DONE');
    expect(resync.counts.copied).toBe(expected.length);
    expect(await peer.tree()).toEqual(sourceTree);

    const again = await jobEnd(
      relay.url,
      await startJob(relay.url, 'verify', 'server2', { from: 'primary', path: '/user_homes' }),
    );
    expect(await allDifferences(relay.url, again.id)).toEqual([]);
    expect(again.counts).toMatchObject({ same: expected.length, missing: 0, different: 0, extra: 0 });
  });
});
