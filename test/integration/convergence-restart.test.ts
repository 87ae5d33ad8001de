import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { type ApachePeer, apacheAvailable, peerConfig, startApache } from '../support/apache.js';
import { type Child, spawnTs } from '../support/child.js';
import { allDifferences, getJob, jobEnd, makeFolder, startJob, writeTree } from '../support/convergence.js';
import { HoldingProxy } from '../support/holding-proxy.js';
import { waitFor } from '../support/node-client.js';
import { ADMIN_TOKEN, auth, startTestRelay } from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';
import { tempDir } from '../support/tmp.js';

const CHILD = fileURLToPath(new URL('../support/crash-child.ts', import.meta.url));
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Five folders of ten files on the source (behind a holding proxy), an empty peer. */
async function servers(): Promise<{ source: ApachePeer; proxy: HoldingProxy; peer: ApachePeer }> {
  const source = await startApache();
  cleanups.push(() => source.close());
  const peer = await startApache();
  cleanups.push(() => peer.close());
  const files: Record<string, string> = {};
  for (let i = 0; i < 50; i++) files[`user_homes/f${i % 5}/file${i}.txt`] = `content ${i}`;
  await writeTree(source, files, new Date('2024-03-01T10:00:00Z'));
  await makeFolder(peer, 'user_homes');
  const proxy = new HoldingProxy(source.port);
  await proxy.start();
  cleanups.push(() => proxy.close());
  return { source, proxy, peer };
}

function relayConfig(proxy: HoldingProxy, source: ApachePeer, peer: ApachePeer) {
  return {
    vfs: [{ path: '/user_homes' }],
    peers: [peerConfig(peer, 'server2')],
    sources: [{ name: 'primary', url: proxy.url, username: source.username, password: source.password }],
    auth: { adminToken: ADMIN_TOKEN },
  };
}

async function startChild(journal: string, config: object): Promise<Child> {
  const child = await spawnTs(CHILD, [journal, JSON.stringify(config)]);
  cleanups.push(async () => {
    child.process.kill('SIGKILL');
    await child.exited;
  });
  return child;
}

async function kill(child: Child): Promise<void> {
  child.process.kill('SIGKILL');
  await child.exited;
}

async function storedJob(journal: string, id: string): Promise<{ status: string; differences: number }> {
  return JSON.parse(await readFile(join(journal, 'jobs', id, 'job.json'), 'utf8'));
}

const body = { from: 'primary', path: '/user_homes' };

describeWithServer('Apache httpd (apt-get install apache2)', apacheAvailable, 'jobs across restarts', () => {
  it('a verify interrupted by SIGKILL resumes from its checkpoint and reports every difference once', async () => {
    const { source, proxy, peer } = await servers();
    const tmp = await tempDir();
    cleanups.push(() => tmp.remove());
    const config = relayConfig(proxy, source, peer);
    const held = proxy.hold((r) => r.method === 'PROPFIND' && r.path === '/user_homes/f4/');
    let child = await startChild(tmp.dir, config);
    const id = await startJob(child.ready, 'verify', 'server2', body);
    await held.arrived;
    // The folders walked before f4 are saved at the next checkpoint, while f4's listing waits.
    await waitFor(
      async () => (await storedJob(tmp.dir, id).catch(() => ({ differences: 0 }))).differences >= 45,
      20_000,
    );
    await kill(child);
    expect((await storedJob(tmp.dir, id)).status).toBe('RUNNING');

    child = await startChild(tmp.dir, config);
    const job = await jobEnd(child.ready, id);
    expect(job).toMatchObject({ status: 'DONE', counts: { missing: 55, scanned: 55 } });
    const paths = (await allDifferences(child.ready, id)).map((d) => d.path);
    expect(paths).toHaveLength(55);
    expect(new Set(paths).size).toBe(55);
    held.release();
  });

  it('a resync interrupted by SIGKILL ends FAILED with a reason, and its unreplayed writes are dropped', async () => {
    const { source, proxy, peer } = await servers();
    const tmp = await tempDir();
    cleanups.push(() => tmp.remove());
    const config = relayConfig(proxy, source, peer);
    const held = proxy.hold((r) => r.method === 'GET' && r.path.startsWith('/user_homes/f0/'));
    let child = await startChild(tmp.dir, config);
    const id = await startJob(child.ready, 'resync', 'server2', body);
    await held.arrived; // a copy is in flight, more wait in the journal
    await kill(child);

    child = await startChild(tmp.dir, config);
    const job = await getJob(child.ready, id);
    expect(job.status).toBe('FAILED');
    expect(job.error).toMatch(/restarted during the job/);
    const changes = (await (await fetch(`${child.ready}/v1/changes`, { headers: auth(ADMIN_TOKEN) })).json()) as {
      items: unknown[];
    };
    expect(changes.items).toEqual([]);
    held.release();

    // Run again, it finishes the work.
    const again = await jobEnd(child.ready, await startJob(child.ready, 'resync', 'server2', body));
    expect(again.status).toBe('DONE');
    expect(await peer.tree()).toEqual(await source.tree());
  });

  it('cancel stops a resync: CANCELLED, its queued writes dropped, a second cancel refused', async () => {
    const { source, proxy, peer } = await servers();
    const relay = await startTestRelay(relayConfig(proxy, source, peer));
    cleanups.push(() => relay.close());
    const held = proxy.hold((r) => r.method === 'GET' && r.path.startsWith('/user_homes/'), { all: true });
    const id = await startJob(relay.url, 'resync', 'server2', body);
    await held.arrived;

    const res = await fetch(`${relay.url}/v1/jobs/${id}`, { method: 'DELETE', headers: auth(ADMIN_TOKEN) });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id, status: 'CANCELLED' });
    held.release();
    await waitFor(async () => {
      const page = (await (await fetch(`${relay.url}/v1/changes`, { headers: auth(ADMIN_TOKEN) })).json()) as {
        items: unknown[];
      };
      return page.items.length === 0;
    }, 20_000);
    // At most the copies already in flight (the peer's replay concurrency, 8) reached the peer.
    const files = [...(await peer.tree()).entries()].filter(([, v]) => v !== 'dir');
    expect(files.length).toBeLessThanOrEqual(8);
    expect((await getJob(relay.url, id)).status).toBe('CANCELLED');

    const again = await fetch(`${relay.url}/v1/jobs/${id}`, { method: 'DELETE', headers: auth(ADMIN_TOKEN) });
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ error: { code: 'JOB_NOT_RUNNING' } });
  });
});
