// A folder moved from one replicated location to another: the relay answers 422 RENAME_ACROSS_LOCATIONS and the
// sender replaces the rename by a delete and an upload. It found no regular file to upload under the new name (a
// folder), waited and skipped it: the peer lost the folder and its files (found by a review). It now makes the
// folder and uploads what it holds.
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { RelayClient } from '../../src/agent/client.js';
import { OpenUploads } from '../../src/agent/open-uploads.js';
import { Outbox } from '../../src/agent/outbox.js';
import { RefusedChanges } from '../../src/agent/refused-changes.js';
import { Sender } from '../../src/agent/sender.js';
import { silentLogger } from '../../src/core/logger.js';
import { apacheAvailable, peerConfig, startApache } from '../support/apache.js';
import { waitFor } from '../support/node-client.js';
import { NODE_A_TOKEN, startTestRelay } from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';
import { tempDir } from '../support/tmp.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describeWithServer(
  'Apache httpd (apt-get install apache2)',
  apacheAvailable,
  'agent: a folder moved between locations',
  () => {
    it('a folder moved into another replicated location arrives there with its files', async () => {
      const server = await startApache();
      cleanups.push(() => server.close());
      const relay = await startTestRelay({
        peers: [peerConfig(server, 'server2')],
        vfs: [
          { path: '/user_homes', replicate: true },
          { path: '/shared', replicate: true },
        ],
      });
      cleanups.push(() => relay.close());
      const tmp = await tempDir('vfs-relay-across-');
      cleanups.push(tmp.remove);
      const root = join(tmp.dir, 'watched');
      await mkdir(join(root, 'user_homes', 'd'), { recursive: true });
      await mkdir(join(root, 'shared'), { recursive: true });
      await writeFile(join(root, 'user_homes', 'd', 'x.txt'), 'precious');
      const outbox = await Outbox.open(join(tmp.dir, 'state'));
      cleanups.push(() => outbox.close());
      const client = new RelayClient({ relay: relay.url, token: NODE_A_TOKEN });
      cleanups.push(() => client.close());
      const sender = new Sender({
        outbox,
        refused: await RefusedChanges.open(outbox.dir),
        client,
        root,
        vfs: '/',
        logger: silentLogger,
        reconnect: { baseDelayMs: 50, maxDelayMs: 200 },
        goneGraceMs: 300,
        concurrency: 1,
      });
      sender.start((e) => {
        throw e;
      });
      cleanups.push(() => sender.stop());
      await outbox.append({ action: 'makedir', path: 'user_homes/d' });
      await outbox.append({ action: 'upload', path: 'user_homes/d/x.txt' });
      await waitFor(async () => (await server.tree()).has('user_homes/d/x.txt'), 20_000);

      await rename(join(root, 'user_homes', 'd'), join(root, 'shared', 'd'));
      await outbox.append({ action: 'rename', path: 'user_homes/d', target: 'shared/d' });
      const moved = async () =>
        [...(await server.tree()).keys()].filter((p) => p.startsWith('user_homes/d') || p.startsWith('shared/'));
      await waitFor(
        async () => JSON.stringify(await moved()) === JSON.stringify(['shared/d', 'shared/d/x.txt']),
        20_000,
        async () => `the peer holds ${JSON.stringify(await moved())}; ${sender.refused} set aside`,
      );
      expect(sender.refused).toBe(0);
    }, 60_000);

    // Found by the same review: an upload set aside in an earlier run marks its path as never received by the peer
    // (a later rename from it is sent as a delete and an upload). When that path had become a folder since, the
    // folder was deleted on the peer and nothing was uploaded.
    it('a folder renamed after a restart arrives under its new name on the peer', async () => {
      const server = await startApache();
      cleanups.push(() => server.close());
      const relay = await startTestRelay({
        peers: [peerConfig(server, 'server2')],
        limits: { maxUploadBytes: 1000 },
      });
      cleanups.push(() => relay.close());
      const tmp = await tempDir('vfs-relay-absent-');
      cleanups.push(tmp.remove);
      const root = join(tmp.dir, 'watched');
      await mkdir(root);
      const state = join(tmp.dir, 'state');
      const client = new RelayClient({ relay: relay.url, token: NODE_A_TOKEN });
      cleanups.push(() => client.close());

      const startRun = async () => {
        const outbox = await Outbox.open(state);
        const sender = new Sender({
          outbox,
          refused: await RefusedChanges.open(state),
          uploads: await OpenUploads.open(state),
          client,
          root,
          vfs: '/user_homes/s/',
          logger: silentLogger,
          reconnect: { baseDelayMs: 50, maxDelayMs: 200 },
          goneGraceMs: 300,
          concurrency: 1,
        });
        sender.start((e) => {
          throw e;
        });
        const stop = async () => {
          await sender.stop();
          await outbox.close();
        };
        return { outbox, sender, stop };
      };

      // Run 1: p is too large for the relay (413): set aside. Then the file is removed and p becomes a folder.
      const run1 = await startRun();
      await writeFile(join(root, 'p'), Buffer.alloc(5000, 1));
      await run1.outbox.append({ action: 'upload', path: 'p' });
      await waitFor(async () => run1.outbox.size === 0, 20_000);
      expect(run1.sender.refused).toBe(1);
      await rm(join(root, 'p'));
      await run1.outbox.append({ action: 'delete', path: 'p' });
      await mkdir(join(root, 'p'));
      await writeFile(join(root, 'p', 'x.txt'), 'precious');
      await run1.outbox.append({ action: 'makedir', path: 'p' });
      await run1.outbox.append({ action: 'upload', path: 'p/x.txt' });
      await waitFor(async () => run1.outbox.size === 0, 20_000);
      await waitFor(async () => (await server.tree()).has('user_homes/s/p/x.txt'), 20_000);
      await run1.stop();

      // Run 2 (any restart later): the folder is renamed.
      const run2 = await startRun();
      cleanups.push(run2.stop);
      await rename(join(root, 'p'), join(root, 'q'));
      await run2.outbox.append({ action: 'rename', path: 'p', target: 'q' });
      const tree = async () => [...(await server.tree()).keys()].filter((p) => p.startsWith('user_homes/s/'));
      await waitFor(
        async () => JSON.stringify(await tree()) === JSON.stringify(['user_homes/s/q', 'user_homes/s/q/x.txt']),
        20_000,
        async () => `the peer holds ${JSON.stringify(await tree())}`,
      );
    }, 60_000);

    // Found by the same review: a rename to a name the relay refuses (400 BAD_PATH) was set aside and nothing else
    // happened: the peer kept the old name, and renaming the file again to fix its name was sent as a MOVE from the
    // refused name, refused too. Now the old name is deleted and the file sent under the next good name.
    it('a file renamed to a refused name and then to a good one reaches the peer under the good name', async () => {
      const server = await startApache();
      cleanups.push(() => server.close());
      const relay = await startTestRelay({ peers: [peerConfig(server, 'server2')] });
      cleanups.push(() => relay.close());
      const tmp = await tempDir('vfs-relay-rename-');
      cleanups.push(tmp.remove);
      const root = join(tmp.dir, 'watched');
      await mkdir(root);
      const outbox = await Outbox.open(join(tmp.dir, 'state'));
      cleanups.push(() => outbox.close());
      const client = new RelayClient({ relay: relay.url, token: NODE_A_TOKEN });
      cleanups.push(() => client.close());
      const sender = new Sender({
        outbox,
        refused: await RefusedChanges.open(outbox.dir),
        client,
        root,
        vfs: '/user_homes/r/',
        logger: silentLogger,
        reconnect: { baseDelayMs: 50, maxDelayMs: 200 },
        goneGraceMs: 200,
        concurrency: 1,
      });
      sender.start((e) => {
        throw e;
      });
      cleanups.push(() => sender.stop());
      const bad = 'bad\u0001name.txt'; // a valid local name; the relay answers 400 BAD_PATH (control character)

      await writeFile(join(root, 'ok.txt'), 'data');
      await outbox.append({ action: 'upload', path: 'ok.txt' });
      await waitFor(async () => (await server.tree()).has('user_homes/r/ok.txt'), 20_000);

      // The user renames it to a name the relay refuses, then fixes the name by renaming it again.
      await rename(join(root, 'ok.txt'), join(root, bad));
      await outbox.append({ action: 'rename', path: 'ok.txt', target: bad });
      await rename(join(root, bad), join(root, 'fixed.txt'));
      await outbox.append({ action: 'rename', path: bad, target: 'fixed.txt' });
      // Locally only fixed.txt exists: so must the peer, once everything is replayed.
      const tree = async () => [...(await server.tree()).keys()].filter((p) => p.startsWith('user_homes/r/'));
      await waitFor(
        async () => JSON.stringify(await tree()) === JSON.stringify(['user_homes/r/fixed.txt']),
        20_000,
        async () => `the peer holds ${JSON.stringify(await tree())}`,
      );
      expect(sender.refused).toBe(1); // the rename to the refused name, listed for the operator
    }, 60_000);
  },
);
