import { randomBytes } from 'node:crypto';
import { chown, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { runAgent } from '../../src/agent/index.js';
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
      for (const [token, root, name] of [
        [NODE_A_TOKEN, rootA, 'a'],
        [NODE_B_TOKEN, rootB, 'b'],
      ] as const) {
        const agent = await runAgent({
          relay: relay.url,
          token,
          vfs: '/user_homes/',
          watch: root,
          state: join(outboxes.dir, name),
          ...timing,
        });
        cleanups.push(() => agent.close());
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
      await new Promise((r) => setTimeout(r, 3000));
      expect([(await putsTo(a)).length, (await putsTo(b)).length]).toEqual(settled);

      // Each server received PUTs only for the other side's files, each exactly once: no echo went back.
      const toA = await putsTo(a);
      const toB = await putsTo(b);
      expect(toA.every((p) => p.startsWith('/user_homes/b-side/'))).toBe(true);
      expect(toB.every((p) => p.startsWith('/user_homes/a-side/'))).toBe(true);
      expect(new Set(toA).size).toBe(100);
      expect(toA).toHaveLength(100);
      expect(new Set(toB).size).toBe(100);
      expect(toB).toHaveLength(100);
      const peers = (await (await fetch(`${relay.url}/v1/peers`, { headers: auth(ADMIN_TOKEN) })).json()) as {
        name: string;
        echoesSuppressed: number;
        pending: number;
      }[];
      // Every replica came back once as an echo (the files and the folders created for them) and was dropped.
      for (const p of peers) {
        expect(p.pending).toBe(0);
        expect(p.echoesSuppressed).toBeGreaterThanOrEqual(100);
      }
    }, 150_000);
  },
);
