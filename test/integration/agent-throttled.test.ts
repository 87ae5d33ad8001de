import { randomBytes } from 'node:crypto';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { type AgentHandle, runAgent } from '../../src/agent/index.js';
import { apacheAvailable, peerConfig, startApache } from '../support/apache.js';
import { mirrored } from '../support/mirror.js';
import { waitFor } from '../support/node-client.js';
import { ADMIN_TOKEN, auth, NODE_A_TOKEN, startTestRelay } from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';
import { ThrottlingProxy } from '../support/throttling-proxy.js';
import { tempDir } from '../support/tmp.js';

const PREFIX = 'user_homes/throttled/';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describeWithServer('Apache httpd (apt-get install apache2)', apacheAvailable, 'agent behind a throttling relay', () => {
  it('sends every file although a third of its requests are answered 429, 503 or 408: nothing set aside', async () => {
    const server = await startApache();
    cleanups.push(() => server.close());
    const relay = await startTestRelay({ peers: [peerConfig(server, 'server2')] });
    cleanups.push(() => relay.close());
    const proxy = new ThrottlingProxy(relay.url, { every: 3 });
    await proxy.start();
    cleanups.push(() => proxy.close());
    const tmp = await tempDir('vfs-relay-throttled-');
    cleanups.push(tmp.remove);
    const watch = join(tmp.dir, 'watched');

    // Found at start (--initial-scan), from empty to 300 KiB (above the one-request upload limit): 60 files.
    for (let i = 0; i < 60; i++) {
      const folder = join(watch, `d${i % 6}`, `e${i % 4}`);
      await mkdir(folder, { recursive: true });
      await writeFile(join(folder, `f${i}.bin`), randomBytes((i * 5_171) % (300 * 1024)));
    }
    const agent: AgentHandle = await runAgent({
      relay: proxy.url,
      token: NODE_A_TOKEN,
      vfs: `/${PREFIX}`,
      watch,
      state: join(tmp.dir, 'state'),
      initialScan: true,
      renameWindowMs: 100,
      stabilityMs: 200,
      retry: { attempts: 3, baseDelayMs: 50, maxDelayMs: 400 },
      reconnectMaxDelayMs: 400,
    });
    cleanups.push(() => agent.close());
    // And while it runs: new files and overwrites.
    for (let i = 0; i < 20; i++) await writeFile(join(watch, `d${i % 6}`, `live${i}.txt`), `live ${i}`);
    for (let i = 0; i < 5; i++) await writeFile(join(watch, 'd0', 'e0', `f${i * 12}.bin`), `overwritten ${i}`);

    await mirrored(server, watch, PREFIX, 120_000);
    await waitFor(
      async () => agent.status().queued === 0 && agent.status().detecting === 0,
      30_000,
      () => JSON.stringify(agent.status()),
    );
    expect(agent.status()).toMatchObject({ queued: 0, refused: 0 });
    await expect(access(join(agent.stateDir, 'refused.jsonl'))).rejects.toMatchObject({ code: 'ENOENT' });
    // Every kind of refusal was met, many times over.
    for (const status of [429, 503, 408]) expect(proxy.refusals(status)).toBeGreaterThan(3);
    expect(proxy.refused).toBeGreaterThanOrEqual(Math.floor(proxy.log.length / 3));
    const peers = (await (await fetch(`${relay.url}/v1/peers`, { headers: auth(ADMIN_TOKEN) })).json()) as {
      conflicts: number;
      failed?: number;
    }[];
    expect(peers[0]).toMatchObject({ conflicts: 0 });
  }, 180_000);
});
