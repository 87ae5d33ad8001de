import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { FsJournalStore, JOURNAL_DIR } from '../../src/adapters/fs-journal/store.js';
import { type ApachePeer, apacheAvailable, peerConfig, startApache } from '../support/apache.js';
import { type Child, spawnTs } from '../support/child.js';
import { CountingProxy } from '../support/counting-proxy.js';
import { postChange, waitFor } from '../support/node-client.js';
import { NODE_A_TOKEN } from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';
import { tempDir } from '../support/tmp.js';
import { mixedScript } from '../support/tree-model.js';

const CHILD = fileURLToPath(new URL('../support/crash-child.ts', import.meta.url));
const MIN_KILLS = 10;

/** Entries on disk (config.XML present), read while no relay runs. */
async function journalEntries(journal: string): Promise<number> {
  const root = join(journal, JOURNAL_DIR);
  let count = 0;
  for (const lane of await readdir(root).catch((): string[] => [])) {
    for (const id of await readdir(join(root, lane))) {
      if (id.startsWith('.')) continue; // .purge-<id>: already gone for the relay, deleted in the background
      if ((await readdir(join(root, lane, id)).catch((): string[] => [])).includes('config.XML')) count += 1;
    }
  }
  return count;
}

describeWithServer('Apache httpd (apt-get install apache2)', apacheAvailable, 'crash safety of replay', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it(`drains 500 changes exactly through ${MIN_KILLS}+ SIGKILLs of the relay`, async () => {
    const server: ApachePeer = await startApache();
    cleanups.push(() => server.close());
    // The relay reaches the peer through a proxy that counts its requests: kills are timed by progress, not clocks.
    const proxy = new CountingProxy(server.port);
    await proxy.start();
    cleanups.push(() => proxy.close());
    const tmp = await tempDir();
    cleanups.push(() => tmp.remove());
    const config = JSON.stringify({
      peers: [{ ...peerConfig(server, 'server2'), url: proxy.url }],
      vfs: [{ path: '/user_homes' }],
      auth: { adminToken: 'crash-admin-token-0123456789', nodeTokens: { 'node-a': NODE_A_TOKEN } },
    });
    const { changes, model } = mixedScript({ seed: 21, count: 500, base: '/user_homes/crash', maxBytes: 512 * 1024 });

    // Journal the 500 changes while the peer is down.
    await server.stop();
    let child: Child = await spawnTs(CHILD, [tmp.dir, config]);
    for (const change of changes) await postChange(child.ready, NODE_A_TOKEN, change);
    child.process.kill('SIGKILL');
    await child.exited;
    // A restart's recovery first: the last answers may have come before their folders were written (the
    // write-ahead log holds them).
    await (await FsJournalStore.open(tmp.dir)).close();
    expect(await journalEntries(tmp.dir)).toBe(500);

    // Drain, killing the relay after a varying amount of progress (3 to 30 requests to the peer, seeded), so that
    // every kill lands mid-drain however fast or slow the machine is; each restart resumes from the journal. Ten
    // kills take at most 300 of the drain's 500+ requests: the backlog cannot run out first.
    await server.start();
    let seed = 21;
    const nextProgress = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return 3 + (seed % 28);
    };
    let kills = 0;
    while (kills < MIN_KILLS) {
      const mark = proxy.requests.length;
      const progress = nextProgress();
      child = await spawnTs(CHILD, [tmp.dir, config]);
      await waitFor(
        async () => proxy.requests.length >= mark + progress,
        30_000,
        () => `${proxy.requests.length - mark} requests`,
      );
      child.process.kill('SIGKILL');
      await child.exited;
      const left = await journalEntries(tmp.dir);
      expect(left, `the backlog ran out after ${kills} kills`).toBeGreaterThan(0);
      kills += 1;
    }

    // The last run drains what is left, and shuts down cleanly.
    child = await spawnTs(CHILD, [tmp.dir, config]);
    const headers = { authorization: 'Bearer crash-admin-token-0123456789' };
    await waitFor(
      async () => {
        const [peer] = (await (await fetch(`${child.ready}/v1/peers`, { headers })).json()) as {
          pending: number;
          conflicts: number;
          failed: number;
        }[];
        return peer!.pending + peer!.conflicts + peer!.failed === 0;
      },
      60_000,
      async () => JSON.stringify(await (await fetch(`${child.ready}/v1/peers`, { headers })).json()),
    );
    child.process.kill('SIGTERM');
    expect((await child.exited).code).toBe(0);

    expect(await journalEntries(tmp.dir)).toBe(0);
    const tree = [...(await server.tree())].filter(([p]) => p.startsWith('user_homes'));
    expect(tree).toEqual([...model.sorted()]);
  }, 480_000);
});
