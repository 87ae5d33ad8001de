import { randomBytes } from 'node:crypto';
import { chown, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { type AgentHandle, runAgent } from '../../src/agent/index.js';
import { type ApachePeer, apacheAvailable, peerConfig, startApache } from '../support/apache.js';
import { waitFor } from '../support/node-client.js';
import { ADMIN_TOKEN, auth, NODE_A_TOKEN, NODE_B_TOKEN, startTestRelay } from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';
import { tempDir } from '../support/tmp.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The folder the agent watches inside a server's document root, writable by Apache (www-data) too. */
async function sharedRoot(server: ApachePeer): Promise<string> {
  const dir = join(server.root, 'user_homes');
  await mkdir(dir, { mode: 0o777 });
  const { uid, gid } = await import('node:fs/promises').then((fs) => fs.stat(server.root));
  await chown(dir, uid, gid);
  return dir;
}

async function makeFiles(root: string, side: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const folder = join(root, `${side}-side`, `f${i % 5}`);
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, `${side}${i}.bin`), randomBytes(512 + i * 37));
  }
}

async function listPeers(url: string) {
  const res = await fetch(`${url}/v1/peers`, { headers: auth(ADMIN_TOKEN) });
  return (await res.json()) as { name: string; echoesSuppressed: number; pending: number }[];
}

describeWithServer(
  'Apache httpd (apt-get install apache2)',
  apacheAvailable,
  'active-active pair with two agents',
  () => {
    it('replicates 100 changes each way exactly once, with no echo, and goes quiet', async () => {
      const a = await startApache();
      const b = await startApache();
      cleanups.push(
        () => a.close(),
        () => b.close(),
      );
      const relay = await startTestRelay({
        peers: [peerConfig(a, 'server-a', { node: 'node-a' }), peerConfig(b, 'server-b', { node: 'node-b' })],
      });
      cleanups.push(() => relay.close());
      const [rootA, rootB] = [await sharedRoot(a), await sharedRoot(b)];
      const outboxes = await tempDir();
      cleanups.push(outboxes.remove);
      const timing = { renameWindowMs: 200, stabilityMs: 300 };
      const agents: AgentHandle[] = [];
      for (const [token, root, name] of [
        [NODE_A_TOKEN, rootA, 'a'],
        [NODE_B_TOKEN, rootB, 'b'],
      ] as const) {
        const agent: AgentHandle = await runAgent({
          relay: relay.url,
          token,
          vfs: '/user_homes/',
          watch: root,
          state: join(outboxes.dir, name),
          ...timing,
        });
        cleanups.push(() => agent.close());
        agents.push(agent);
      }

      await Promise.all([makeFiles(rootA, 'a', 100), makeFiles(rootB, 'b', 100)]);
      const files = (tree: Map<string, string>) => [...tree].filter(([, v]) => v !== 'dir');
      await waitFor(
        async () => files(await a.tree()).length === 200 && files(await b.tree()).length === 200,
        90_000,
        async () => `A has ${files(await a.tree()).length}, B has ${files(await b.tree()).length}`,
      );
      expect([...(await a.tree())]).toEqual([...(await b.tree())]);

      // Quiet: nothing pending, nothing more sent, a few seconds later.
      const putsTo = async (s: ApachePeer) => (await s.requests()).filter((r) => r.method === 'PUT').map((r) => r.path);
      await waitFor(
        async () => [...(await relay.relay.view.backlog()).values()].every((p) => p.pending === 0),
        10_000,
        async () => JSON.stringify((await relay.relay.view.listChanges({ limit: 20 })).items),
      );
      const settled = [(await putsTo(a)).length, (await putsTo(b)).length];
      // A barrier, not a pause: one more file each way. Once both have come back as echoes and been dropped, and
      // neither agent nor the relay has anything left, any echo of the earlier files would have been sent before.
      const echoes = async () => (await listPeers(relay.url)).reduce((sum, p) => sum + p.echoesSuppressed, 0);
      const echoesBefore = await echoes();
      await Promise.all([
        writeFile(join(rootA, 'a-side', 'f0', 'marker.bin'), 'a'),
        writeFile(join(rootB, 'b-side', 'f0', 'marker.bin'), 'b'),
      ]);
      await waitFor(
        async () =>
          (await a.tree()).has('user_homes/b-side/f0/marker.bin') &&
          (await b.tree()).has('user_homes/a-side/f0/marker.bin') &&
          (await echoes()) >= echoesBefore + 2 &&
          agents.every((g) => g.status().detecting === 0 && g.status().queued === 0) &&
          (await listPeers(relay.url)).every((p) => p.pending === 0),
        30_000,
        async () => JSON.stringify({ peers: await listPeers(relay.url), agents: agents.map((g) => g.status()) }),
      );
      expect([(await putsTo(a)).length, (await putsTo(b)).length]).toEqual([settled[0]! + 1, settled[1]! + 1]);

      // Each server received PUTs only for the other side's files, each exactly once: no echo went back.
      const toA = await putsTo(a);
      const toB = await putsTo(b);
      expect(toA.every((p) => p.startsWith('/user_homes/b-side/'))).toBe(true);
      expect(toB.every((p) => p.startsWith('/user_homes/a-side/'))).toBe(true);
      expect(new Set(toA).size).toBe(101); // 100 files and the marker
      expect(toA).toHaveLength(101);
      expect(new Set(toB).size).toBe(101);
      expect(toB).toHaveLength(101);
      const peers = await listPeers(relay.url);
      // Every replica came back once as an echo (the files and the folders created for them) and was dropped.
      for (const p of peers) {
        expect(p.pending).toBe(0);
        expect(p.echoesSuppressed).toBeGreaterThanOrEqual(100);
      }
    }, 150_000);
  },
);
