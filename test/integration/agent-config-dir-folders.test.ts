import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, it } from 'vitest';
import { type AgentOptions, runAgent } from '../../src/agent/index.js';
import { type ApachePeer, apacheAvailable, peerConfig, startApache } from '../support/apache.js';
import { waitFor } from '../support/node-client.js';
import { NODE_A_TOKEN, startTestRelay } from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';
import { tempDir } from '../support/tmp.js';

// `--config-dir`: documents are `<scope>/<name>` files, so a whole scope folder removed, moved away or moved into
// place is the removal or arrival of each document it holds (it was one change of a folder, which no document is,
// and nothing happened on the peers).

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const DOC = '.vfs-relay/config';

async function setup() {
  const server = await startApache();
  cleanups.push(() => server.close());
  const relay = await startTestRelay({ peers: [peerConfig(server, 'server2')] });
  cleanups.push(() => relay.close());
  const tmp = await tempDir();
  cleanups.push(tmp.remove);
  const [files, docs] = [join(tmp.dir, 'files'), join(tmp.dir, 'docs')];
  await mkdir(join(docs, 'users'), { recursive: true });
  await mkdir(files);
  const options: AgentOptions = {
    relay: relay.url,
    token: NODE_A_TOKEN,
    vfs: '/user_homes/',
    watch: files,
    configDir: docs,
    state: join(tmp.dir, 'state'),
    renameWindowMs: 200,
    stabilityMs: 300,
  };
  let agent = await runAgent(options);
  cleanups.push(() => agent.close());
  await writeFile(join(docs, 'users/john.XML'), '<user><username>john</username></user>');
  await writeFile(join(docs, 'users/mary.XML'), '<user><username>mary</username></user>');
  await until(server, (tree) => tree.has(`${DOC}/users/john.XML`) && tree.has(`${DOC}/users/mary.XML`));
  const restart = async (between: () => Promise<void>) => {
    await agent.close();
    await between();
    agent = await runAgent(options);
  };
  return { server, docs, restart };
}

function until(server: ApachePeer, done: (tree: Map<string, string>) => boolean): Promise<void> {
  return waitFor(
    async () => done(await server.tree()),
    20_000,
    async () => JSON.stringify([...(await server.tree()).keys()].filter((p) => p.startsWith(DOC))),
  );
}

const noUsers = (tree: Map<string, string>) => !tree.has(`${DOC}/users/john.XML`) && !tree.has(`${DOC}/users/mary.XML`);

describeWithServer(
  'Apache httpd (apt-get install apache2)',
  apacheAvailable,
  'agent --config-dir: scope folders',
  () => {
    it('removing a scope folder deletes each of its documents on the peer', async () => {
      const { server, docs } = await setup();
      await rm(join(docs, 'users'), { recursive: true });
      await until(server, noUsers);
    }, 60_000);

    it('moving a scope folder away deletes its documents; moving a folder into place as a scope sends them', async () => {
      const { server, docs } = await setup();
      await rename(join(docs, 'users'), join(docs, 'users.old'));
      await until(server, noUsers);
      await mkdir(join(docs, 'staging'));
      await writeFile(join(docs, 'staging/admins.XML'), '<group><name>admins</name></group>');
      await rename(join(docs, 'staging'), join(docs, 'groups'));
      await until(server, (tree) => tree.has(`${DOC}/groups/admins.XML`));
    }, 60_000);

    it('a scope folder removed while the agent was stopped: its documents are deleted at the next start', async () => {
      const { server, docs, restart } = await setup();
      // (Another scope stays: a start that finds everything gone takes it for an unmounted volume, deleting nothing.)
      await mkdir(join(docs, 'groups'));
      await writeFile(join(docs, 'groups/admins.XML'), '<group><name>admins</name></group>');
      await until(server, (tree) => tree.has(`${DOC}/groups/admins.XML`));
      await restart(() => rm(join(docs, 'users'), { recursive: true }));
      await until(server, noUsers);
    }, 60_000);
  },
);
