import { createHash } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { WebDavTreeReader } from '../../src/adapters/webdav/tree-reader.js';
import type { JournalEntry } from '../../src/core/entry.js';
import { type ApachePeer, apacheAvailable, peerConfig, startApache } from '../support/apache.js';
import { jobEnd, makeFolder, startJob, writeTree } from '../support/convergence.js';
import { HoldingProxy } from '../support/holding-proxy.js';
import { postChange, waitFor } from '../support/node-client.js';
import { ADMIN_TOKEN, auth, NODE_A_TOKEN, startTestRelay, type TestRelay } from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const OLD = new Date('2024-03-01T10:00:00Z');
const sha = (body: string | Buffer) => createHash('sha256').update(body).digest('hex');

/** A source behind a holding proxy, a peer, and a relay that knows both. */
async function cluster(
  sourceFiles: Record<string, string>,
  peerFiles: Record<string, string> = {},
): Promise<{ source: ApachePeer; proxy: HoldingProxy; peer: ApachePeer; relay: TestRelay }> {
  const source = await startApache();
  cleanups.push(() => source.close());
  const peer = await startApache();
  cleanups.push(() => peer.close());
  await writeTree(source, sourceFiles, OLD);
  await makeFolder(peer, 'user_homes');
  await writeTree(peer, peerFiles, new Date('2025-01-01T00:00:00Z'));
  const proxy = new HoldingProxy(source.port);
  await proxy.start();
  cleanups.push(() => proxy.close());
  const relay = await startTestRelay({
    peers: [peerConfig(peer, 'server2')],
    sources: [{ name: 'primary', url: proxy.url, username: source.username, password: source.password }],
  });
  cleanups.push(() => relay.close());
  return { source, proxy, peer, relay };
}

async function drained(relay: TestRelay): Promise<void> {
  await waitFor(
    async () => {
      const [p] = (await (await fetch(`${relay.url}/v1/peers`, { headers: auth(ADMIN_TOKEN) })).json()) as {
        pending: number;
      }[];
      return p!.pending === 0;
    },
    30_000,
    () => 'the peer backlog did not drain',
  );
}

const body = { from: 'primary', path: '/user_homes' };

describeWithServer(
  'Apache httpd (apt-get install apache2)',
  apacheAvailable,
  'resync ordered with live changes',
  () => {
    it('a live upload of a path the job is copying lands after the copy and wins', async () => {
      const { proxy, peer, relay } = await cluster({ 'user_homes/p.txt': 'from the source' });
      const held = proxy.hold((r) => r.method === 'GET' && r.path === '/user_homes/p.txt');
      const id = await startJob(relay.url, 'resync', 'server2', body);
      await held.arrived; // the job's copy is in flight: its GET waits here

      await postChange(relay.url, NODE_A_TOKEN, {
        action: 'upload',
        path: '/user_homes/p.txt',
        body: Buffer.from('live'),
      });
      held.release();

      expect((await jobEnd(relay.url, id)).status).toBe('DONE');
      await drained(relay);
      expect((await peer.tree()).get('user_homes/p.txt')).toBe(sha('live'));
      const puts = (await peer.requests()).filter((r) => r.method === 'PUT' && r.path === '/user_homes/p.txt');
      expect(puts).toHaveLength(2); // the job's copy, then the live change on top of it
    });

    it('a live upload applied before the job compares the path is left alone', async () => {
      const { proxy, peer, relay } = await cluster({ 'user_homes/p.txt': 'from the source' });
      const held = proxy.hold((r) => r.method === 'PROPFIND' && r.path === '/user_homes/');
      const id = await startJob(relay.url, 'resync', 'server2', body);
      await held.arrived; // the walk waits for the source's listing

      await postChange(relay.url, NODE_A_TOKEN, {
        action: 'upload',
        path: '/user_homes/p.txt',
        body: Buffer.from('live'),
      });
      await drained(relay);
      held.release();

      const job = await jobEnd(relay.url, id);
      expect(job).toMatchObject({ status: 'DONE', counts: { skipped: 1, copied: 0 } });
      // Missing or different, depending on whether the peer was listed before the live upload reached it.
      expect(job.counts.missing + job.counts.different).toBe(1);
      expect((await peer.tree()).get('user_homes/p.txt')).toBe(sha('live'));
      const puts = (await peer.requests()).filter((r) => r.method === 'PUT' && r.path === '/user_homes/p.txt');
      expect(puts).toHaveLength(1);
    });

    it('a live delete of a folder is not undone by the copies into it', async () => {
      const { proxy, peer, relay } = await cluster(
        { 'user_homes/d/x.txt': 'x', 'user_homes/d/y.txt': 'y', 'user_homes/d/e/z.txt': 'z' },
        { 'user_homes/d/x.txt': 'an older x' },
      );
      const held = proxy.hold((r) => r.method === 'PROPFIND' && r.path === '/user_homes/');
      const id = await startJob(relay.url, 'resync', 'server2', body);
      await held.arrived;

      await postChange(relay.url, NODE_A_TOKEN, { action: 'delete', path: '/user_homes/d' });
      await drained(relay);
      held.release();

      const job = await jobEnd(relay.url, id);
      expect(job.status).toBe('DONE');
      expect(job.counts.copied).toBe(0);
      expect([...(await peer.tree()).keys()]).toEqual(['user_homes']);
    });

    it("a live change applied between the job's plan and its replay makes the job skip that write", async () => {
      // The peer has an older p.txt: the job plans a copy over it, conditional on its ETag. A live mdtm leaves the
      // ETag as it is (only a dead property changes), so only the touch check at replay can save it.
      const { peer, relay } = await cluster({ 'user_homes/p.txt': 'from the source' }, { 'user_homes/p.txt': 'older' });
      const store = relay.relay.store;
      const create = store.create.bind(store);
      let release = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let reached = () => {};
      const planned = new Promise<void>((resolve) => {
        reached = resolve;
      });
      store.create = async (entries: readonly JournalEntry[], options) => {
        if (entries.some((e) => e.job)) {
          reached();
          await gate; // the job's entries are stamped but not in the journal yet
        }
        return create(entries, options);
      };
      const id = await startJob(relay.url, 'resync', 'server2', body);
      await planned;

      const modified = '2030-01-02T03:04:05.000Z';
      await postChange(relay.url, NODE_A_TOKEN, { action: 'mdtm', path: '/user_homes/p.txt', modified });
      await drained(relay);
      release();

      const job = await jobEnd(relay.url, id);
      expect(job).toMatchObject({ status: 'DONE', counts: { different: 1, skipped: 1, copied: 0 } });
      await drained(relay);
      expect((await peer.tree()).get('user_homes/p.txt')).toBe(sha('older'));
      const reader = new WebDavTreeReader('server2', {
        url: peer.url,
        username: peer.username,
        password: peer.password,
      });
      cleanups.push(() => reader.close());
      expect((await reader.stat('/user_homes/p.txt'))?.modified).toBe(modified);
    });
  },
);
