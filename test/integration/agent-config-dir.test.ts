import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { runAgent } from '../../src/agent/index.js';
import { apacheAvailable, peerConfig, startApache } from '../support/apache.js';
import { waitFor } from '../support/node-client.js';
import { NODE_A_TOKEN, startTestRelay } from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';
import { tempDir } from '../support/tmp.js';
import { sha256 } from '../support/tree-model.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describeWithServer('Apache httpd (apt-get install apache2)', apacheAvailable, 'agent --config-dir', () => {
  it('replicates <dir>/<scope>/<name> documents: create, update, rename, delete', async () => {
    const server = await startApache();
    cleanups.push(() => server.close());
    const relay = await startTestRelay({
      peers: [peerConfig(server, 'server2')],
    });
    cleanups.push(() => relay.close());
    const tmp = await tempDir();
    cleanups.push(tmp.remove);
    const [files, docs] = [join(tmp.dir, 'files'), join(tmp.dir, 'docs')];
    await mkdir(join(docs, 'users'), { recursive: true });
    await mkdir(join(docs, 'jobs'), { recursive: true });
    await mkdir(files);
    const agent = await runAgent({
      relay: relay.url,
      token: NODE_A_TOKEN,
      vfs: '/user_homes/',
      watch: files,
      configDir: docs,
      state: join(tmp.dir, 'state'),
      renameWindowMs: 200,
      stabilityMs: 300,
    });
    cleanups.push(() => agent.close());
    const on = (name: string) => `.vfs-relay/config/${name}`;
    const john1 = '<user><username>john</username></user>';
    const john2 = '<user><username>john</username><max_logins>3</max_logins></user>';
    const job = '{"name":"nightly","schedule":"0 2 * * *"}';

    await writeFile(join(docs, 'users/john.XML'), john1);
    await writeFile(join(docs, 'jobs/nightly.json'), job);
    await writeFile(join(docs, 'users/old.XML'), '<user><username>old</username></user>');
    await writeFile(join(docs, 'not-a-scope.txt'), 'ignored');
    await waitFor(async () => (await server.tree()).get(on('jobs/nightly.json')) === sha256(Buffer.from(job)), 15_000);
    await waitFor(async () => (await server.tree()).has(on('users/old.XML')), 15_000);

    await writeFile(join(docs, 'users/john.XML'), john2);
    await rename(join(docs, 'users/old.XML'), join(docs, 'users/renamed.XML'));
    await rm(join(docs, 'jobs/nightly.json'));
    await waitFor(
      async () => {
        const tree = await server.tree();
        return (
          tree.get(on('users/john.XML')) === sha256(Buffer.from(john2)) &&
          tree.has(on('users/renamed.XML')) &&
          !tree.has(on('users/old.XML')) &&
          !tree.has(on('jobs/nightly.json'))
        );
      },
      15_000,
      async () => JSON.stringify([...(await server.tree()).keys()]),
    );
    expect([...(await server.tree()).keys()].some((p) => p.includes('not-a-scope'))).toBe(false);
  }, 60_000);
});
