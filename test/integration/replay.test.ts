import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { JOURNAL_DIR } from '../../src/adapters/fs-journal/store.js';
import { PinoLogger } from '../../src/adapters/log/pino-logger.js';
import type { ConfigFile } from '../../src/config/schema.js';
import { laneId } from '../../src/core/lane.js';
import { StampClock } from '../../src/core/stamp.js';
import { type ApachePeer, apacheAvailable, startApache } from '../support/apache.js';
import { CountingProxy } from '../support/counting-proxy.js';
import { postChange, waitFor } from '../support/node-client.js';
import { ADMIN_TOKEN, auth, NODE_A_TOKEN, startTestRelay, type TestRelay } from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';
import { mixedScript, type ScriptChange, sha256, TreeModel } from '../support/tree-model.js';

type PeerConfig = NonNullable<ConfigFile['peers']>[number];

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function apache(options?: { password?: string }): Promise<ApachePeer> {
  const server = await startApache();
  cleanups.push(() => server.close());
  if (options?.password) return Object.assign(Object.create(server), { password: options.password }) as ApachePeer;
  return server;
}

function peerOf(name: string, server: ApachePeer, url = server.url, password = server.password): PeerConfig {
  return { name, url, username: server.username, password, pingIntervalSeconds: 1 };
}

async function relay(peers: PeerConfig[], journal?: string, extra: Partial<ConfigFile> = {}): Promise<TestRelay> {
  const t = await startTestRelay({ peers, vfs: [{ path: '/user_homes', replicate: true }], ...extra }, { journal });
  cleanups.push(() => t.close());
  return t;
}

async function post(t: TestRelay, changes: readonly ScriptChange[]): Promise<string[]> {
  const ids: string[] = [];
  for (const change of changes) ids.push(await postChange(t.url, NODE_A_TOKEN, change));
  return ids;
}

interface PeerView {
  name: string;
  status: string;
  pending: number;
  conflicts: number;
  failed: number;
  blocked: number;
  lastPingAt: string | null;
  lastError?: string;
}

async function peers(t: TestRelay): Promise<PeerView[]> {
  const res = await fetch(`${t.url}/v1/peers`, { headers: auth(ADMIN_TOKEN) });
  return (await res.json()) as PeerView[];
}

async function peer(t: TestRelay, name: string): Promise<PeerView> {
  return (await peers(t)).find((p) => p.name === name)!;
}

/** Waits until the peer has nothing pending and nothing in flight, then returns its status. */
async function drained(t: TestRelay, name: string, timeoutMs = 60_000): Promise<PeerView> {
  await waitFor(
    async () => {
      const p = await peer(t, name);
      return p.pending === 0 && t.relay.replayer.inFlight === 0;
    },
    timeoutMs,
    async () => JSON.stringify(await peer(t, name)),
  );
  return peer(t, name);
}

async function expectTree(server: ApachePeer, model: TreeModel): Promise<void> {
  const actual = await server.tree();
  expect([...actual].filter(([p]) => p.startsWith('user_homes'))).toEqual([...model.sorted()]);
}

describeWithServer('Apache httpd (apt-get install apache2)', apacheAvailable, 'replay to a WebDAV peer', () => {
  it('replicates a mixed script of 320 changes byte for byte', async () => {
    const server = await apache();
    const t = await relay([peerOf('server2', server)]);
    const { changes, model } = mixedScript({ seed: 7, count: 320, base: '/user_homes/mixed' });
    const kinds = new Set(
      changes.map((c) =>
        c.action === 'rename' && !c.path.endsWith('.bin') && !c.path.includes('.moved') ? 'rename-folder' : c.action,
      ),
    );
    expect([...kinds].sort()).toEqual(['delete', 'makedir', 'mdtm', 'rename', 'rename-folder', 'upload']);
    expect(changes.some((c) => c.body?.length === 0)).toBe(true);
    expect(changes.some((c) => (c.body?.length ?? 0) >= 3 * 1024 * 1024)).toBe(true);

    await post(t, changes);
    const after = await drained(t, 'server2', 120_000);
    expect(after).toMatchObject({ status: 'ONLINE', pending: 0, conflicts: 0, failed: 0 });
    await expectTree(server, model);
    expect(model.files().length).toBeGreaterThan(50);
  }, 180_000);

  it('keeps everything through an outage and sends nothing but pings while the peer is down', async () => {
    const server = await apache();
    const proxy = new CountingProxy(server.port);
    await proxy.start();
    cleanups.push(() => proxy.close());
    const t = await relay([peerOf('server2', server, proxy.url)]);
    const { changes, model } = mixedScript({ seed: 11, count: 260, base: '/user_homes/outage', maxBytes: 256 * 1024 });
    await post(t, changes.slice(0, 60));
    await drained(t, 'server2');

    await server.stop();
    const mark = proxy.requests.length;
    const ids = await post(t, changes.slice(60)); // 200 changes, renames and deletes depending on earlier uploads
    expect(ids).toHaveLength(200);
    await waitFor(async () => (await peer(t, 'server2')).status === 'OFFLINE', 10_000);
    // Waits for three pings, however long the machine takes to send them (their spacing is the pinger's unit test).
    const pingsSince = (from: number) => proxy.since(from).filter((r) => r === 'PROPFIND /').length;
    const offlineMark = proxy.requests.length;
    await waitFor(
      async () => pingsSince(offlineMark) >= 3,
      30_000,
      () => JSON.stringify(proxy.since(mark)),
    );
    const down = await peer(t, 'server2');
    expect(down.status).toBe('OFFLINE');
    expect(down.pending).toBe(200);
    expect(down.lastPingAt).not.toBeNull();
    // Only the requests in flight when the outage was discovered, then nothing but pings.
    const others = proxy.since(mark).filter((r) => r !== 'PROPFIND /');
    expect(others.length).toBeLessThanOrEqual(8);

    await server.start();
    await drained(t, 'server2', 60_000);
    expect((await peer(t, 'server2')).status).toBe('ONLINE');
    await expectTree(server, model);
  }, 120_000);

  it.each([true, false])(
    'autoPlay %s: a new change for a down peer pings it at once, or waits for a ping',
    async (autoPlay) => {
      const server = await apache();
      // Pings on the schedule would come only after an hour: whatever brings the peer back here is autoPlay or an
      // operator's ping.
      const t = await relay([{ ...peerOf('server2', server), pingIntervalSeconds: 3600 }], undefined, { autoPlay });
      const upload = (name: string) =>
        post(t, [{ action: 'upload', path: `/user_homes/auto/${name}`, body: Buffer.from(name) }]);
      await upload('first.txt');
      await drained(t, 'server2');

      await server.stop();
      await upload('while-down.txt');
      await waitFor(async () => (await peer(t, 'server2')).status === 'OFFLINE', 10_000);
      await server.start();
      await upload('after.txt');
      if (autoPlay) {
        expect(await drained(t, 'server2', 10_000)).toMatchObject({ status: 'ONLINE', pending: 0 });
      } else {
        // No pause: a sweep (what a tick does besides the ping) and whatever it started, then still nothing.
        await t.relay.replayer.sweep();
        await waitFor(async () => t.relay.replayer.inFlight === 0, 10_000);
        expect(await peer(t, 'server2')).toMatchObject({ status: 'OFFLINE', pending: 2 });
        const ping = await fetch(`${t.url}/v1/peers/server2/ping`, { method: 'POST', headers: auth(ADMIN_TOKEN) });
        expect(ping.status).toBe(200);
        expect(await drained(t, 'server2', 10_000)).toMatchObject({ status: 'ONLINE', pending: 0 });
      }
      const tree = await server.tree();
      for (const name of ['first.txt', 'while-down.txt', 'after.txt']) {
        expect(tree.get(`user_homes/auto/${name}`)).toBe(sha256(Buffer.from(name)));
      }
    },
    60_000,
  );

  it('parks a refused rename as CONFLICT, keeps unrelated paths flowing, blocks what overlaps; retry and skip release', async () => {
    const server = await apache();
    const t = await relay([peerOf('server2', server)]);
    const model = new TreeModel();
    const go = async (change: ScriptChange) => {
      model.apply(change);
      return postChange(t.url, NODE_A_TOKEN, change);
    };
    await go({ action: 'makedir', path: '/user_homes/john' });
    await drained(t, 'server2');

    // A rename whose source never existed on the peer.
    const rename = await postChange(t.url, NODE_A_TOKEN, {
      action: 'rename',
      path: '/user_homes/john/ghost',
      target: '/user_homes/john/found',
    });
    await waitFor(async () => (await peer(t, 'server2')).conflicts === 1, 10_000);
    const unrelated = { action: 'upload' as const, path: '/user_homes/mary/unrelated.txt', body: Buffer.from('flows') };
    await go(unrelated);
    const behind = await postChange(t.url, NODE_A_TOKEN, {
      action: 'upload',
      path: '/user_homes/john/found/inside.txt',
      body: Buffer.from('waits'),
    });
    await waitFor(async () => (await server.tree()).has('user_homes/mary/unrelated.txt'), 10_000);
    const view = async (id: string) =>
      (await (await fetch(`${t.url}/v1/changes/${id}`, { headers: auth(ADMIN_TOKEN) })).json()) as {
        status: string;
        peers: { lastError?: string; blockedBy?: string }[];
      };
    expect(await view(rename)).toMatchObject({
      status: 'CONFLICT',
      peers: [{ lastError: expect.stringMatching(/rename source missing/) }],
    });
    expect(await view(behind)).toMatchObject({ status: 'BLOCKED', peers: [{ blockedBy: rename }] });
    expect((await server.tree()).has('user_homes/john/found')).toBe(false);

    // The operator creates the missing source on the peer, then retries: the rename, then the blocked upload.
    const basic = { authorization: `Basic ${Buffer.from(`${server.username}:${server.password}`).toString('base64')}` };
    await fetch(`${server.url}user_homes/john/ghost/`, { method: 'MKCOL', headers: basic });
    await fetch(`${server.url}user_homes/john/ghost/kept.txt`, { method: 'PUT', headers: basic, body: 'kept' });
    const retry = await fetch(`${t.url}/v1/changes/${rename}/retry`, { method: 'POST', headers: auth(ADMIN_TOKEN) });
    expect(retry.status).toBe(200);
    await drained(t, 'server2');
    const tree = await server.tree();
    expect(tree.get('user_homes/john/found/kept.txt')).toBe(sha256(Buffer.from('kept')));
    expect(tree.get('user_homes/john/found/inside.txt')).toBe(sha256(Buffer.from('waits')));
    expect(tree.has('user_homes/john/ghost')).toBe(false);

    // Skip: drop the conflict, and what waited behind it goes out.
    const again = await postChange(t.url, NODE_A_TOKEN, {
      action: 'rename',
      path: '/user_homes/john/nothing',
      target: '/user_homes/john/else',
    });
    await waitFor(async () => (await peer(t, 'server2')).conflicts === 1, 10_000);
    const released = await postChange(t.url, NODE_A_TOKEN, { action: 'delete', path: '/user_homes/john/nothing/x' });
    await waitFor(async () => (await view(released)).status === 'BLOCKED', 5_000);
    const skip = await fetch(`${t.url}/v1/changes/${again}`, { method: 'DELETE', headers: auth(ADMIN_TOKEN) });
    expect(skip.status).toBe(200);
    await drained(t, 'server2');
    expect((await fetch(`${t.url}/v1/changes/${released}`, { headers: auth(ADMIN_TOKEN) })).status).toBe(404);
    expect(await peer(t, 'server2')).toMatchObject({ conflicts: 0, blocked: 0, pending: 0 });
  }, 60_000);

  it('marks a peer with a wrong password UNAUTHORIZED, loses nothing, and drains once the config is fixed', async () => {
    const server = await apache();
    const { changes, model } = mixedScript({ seed: 3, count: 40, base: '/user_homes/auth', maxBytes: 64 * 1024 });
    const wrong = await relay([peerOf('server2', server, server.url, 'wrong-password')]);
    await post(wrong, changes);
    await waitFor(async () => (await peer(wrong, 'server2')).status === 'UNAUTHORIZED', 10_000);
    const mark = (await server.requests()).length;
    // Wait for events, not for a time span: two more pings after the peer went UNAUTHORIZED.
    const isPing = (r: { method: string; path: string }) => r.method === 'PROPFIND' && r.path === '/';
    await waitFor(async () => (await server.requests()).slice(mark).filter(isPing).length >= 2, 30_000);
    expect(await peer(wrong, 'server2')).toMatchObject({ status: 'UNAUTHORIZED', pending: 40 });
    // Nothing hammers a peer that refuses the credentials: besides the requests in flight when the first 401
    // came back, only pings (PROPFIND /) — however long the two pings took to come.
    const since = (await server.requests()).slice(mark);
    const pings = since.filter(isPing);
    expect(since.length - pings.length).toBeLessThanOrEqual(8);
    expect(since.every((r) => r.status === 401)).toBe(true);
    expect([...(await server.tree()).keys()].filter((p) => p.startsWith('user_homes'))).toEqual([]);
    const journal = wrong.journal;
    await wrong.relay.close();

    const fixed = await relay([peerOf('server2', server)], journal);
    await drained(fixed, 'server2', 30_000);
    await expectTree(server, model);
  }, 60_000);

  it('keeps a second peer current while the first is down, and catches the first up later', async () => {
    const up = await apache();
    const down = await apache();
    const t = await relay([peerOf('down', down), peerOf('up', up)]);
    await down.stop();
    const { changes, model } = mixedScript({ seed: 5, count: 100, base: '/user_homes/two', maxBytes: 64 * 1024 });
    await post(t, changes);
    await drained(t, 'up');
    await expectTree(up, model);
    expect(await peer(t, 'down')).toMatchObject({ status: 'OFFLINE', pending: 100 });

    await down.start();
    await drained(t, 'down', 30_000);
    await expectTree(down, model);
  }, 90_000);

  it('reports a peer that goes down while nothing is replayed as OFFLINE, and ONLINE again when it is back', async () => {
    // It stayed ONLINE until the next change (status, metrics and alerts said all was well): an idle ONLINE peer
    // is now probed on every ping tick.
    const server = await apache();
    const t = await relay([peerOf('server2', server)]);
    await waitFor(async () => (await peer(t, 'server2')).lastPingAt !== null, 10_000);
    await server.stop();
    await waitFor(
      async () => (await peer(t, 'server2')).status === 'OFFLINE',
      20_000,
      async () => JSON.stringify(await peer(t, 'server2')),
    );
    expect(await peer(t, 'server2')).toMatchObject({ pending: 0, lastError: expect.stringContaining('ECONNREFUSED') });
    await server.start();
    await waitFor(async () => (await peer(t, 'server2')).status === 'ONLINE', 20_000);
  }, 60_000);

  it('holds back changes behind an upload whose body never came (AWAITING_BODY) until it is skipped', async () => {
    const server = await apache();
    const t = await relay([peerOf('server2', server)]);
    // The change of a three-step upload, and then nothing: no body, no commit.
    const res = await fetch(`${t.url}/v1/changes`, {
      method: 'POST',
      headers: { ...auth(NODE_A_TOKEN), 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'upload', path: '/user_homes/held/big.iso', size: 10 }),
    });
    expect(res.status).toBe(201);
    const { id: waiting } = (await res.json()) as { id: string };
    const [unrelated, behind] = await post(t, [
      { action: 'makedir', path: '/user_homes/held/big.iso.d' }, // not the same path: goes
      { action: 'delete', path: '/user_homes/held/big.iso' }, // the same path: waits behind the upload
    ]);
    await waitFor(async () => (await server.tree()).has('user_homes/held/big.iso.d'), 10_000);
    const change = async (id: string) =>
      (await (await fetch(`${t.url}/v1/changes/${id}`, { headers: auth(ADMIN_TOKEN) })).json()) as { status: string };
    const deletes = async () =>
      (await server.requests()).filter((r) => r.method === 'DELETE' && r.path === '/user_homes/held/big.iso').length;
    // What a ping tick does for an ONLINE peer, run here and waited for (no pause): a sweep of the journal, and
    // whatever it started. Still nothing for the delete behind the upload.
    await t.relay.replayer.sweep();
    await waitFor(async () => t.relay.replayer.inFlight === 0, 10_000);
    expect(await deletes()).toBe(0);
    expect((await change(behind!)).status).toBe('BLOCKED'); // in the journal, waiting behind the upload
    expect((await change(waiting)).status).toBe('AWAITING_BODY');
    expect(unrelated).toBeDefined();

    const skip = await fetch(`${t.url}/v1/changes/${waiting}`, { method: 'DELETE', headers: auth(ADMIN_TOKEN) });
    expect(skip.status).toBe(200);
    await drained(t, 'server2');
    expect(await deletes()).toBe(1);
  }, 30_000);

  it('parks an upload whose journal body is gone as FAILED, holds back only what overlaps, and skip releases it', async () => {
    const server = await apache();
    await server.stop();
    const t = await relay([peerOf('server2', server)]);
    // Large enough to be streamed into its entry folder (small bodies also live in the write-ahead log).
    const bad = await postChange(t.url, NODE_A_TOKEN, {
      action: 'upload',
      path: '/user_homes/disk/broken.bin',
      body: Buffer.alloc(2 * 1024 * 1024, 7),
    });
    const body = join(t.journal, JOURNAL_DIR, laneId('/user_homes', 'server2'), bad, 'upload');
    await waitFor(async () => (await stat(body).catch(() => undefined))?.size === 2 * 1024 * 1024, 10_000);
    await rm(body); // disk trouble, or a careless hand in the journal
    const [unrelated, behind] = await post(t, [
      { action: 'upload', path: '/user_homes/disk/other.txt', body: Buffer.from('flows') },
      { action: 'delete', path: '/user_homes/disk/broken.bin' }, // the same path: waits behind the failed upload
    ]);
    await server.start();
    await waitFor(async () => (await server.tree()).has('user_homes/disk/other.txt'), 15_000);
    const view = async (id: string) =>
      (await (await fetch(`${t.url}/v1/changes/${id}`, { headers: auth(ADMIN_TOKEN) })).json()) as {
        status: string;
        peers: { lastError?: string; blockedBy?: string; attempts: number }[];
      };
    await waitFor(async () => (await view(bad)).status === 'FAILED', 10_000);
    const attempts = (await view(bad)).peers[0]!.attempts;
    expect(attempts).toBeGreaterThanOrEqual(1);
    expect(await view(bad)).toMatchObject({ peers: [{ lastError: expect.stringMatching(/no body/) }] });
    expect(await view(behind!)).toMatchObject({ status: 'BLOCKED', peers: [{ blockedBy: bad }] });
    expect(await peer(t, 'server2')).toMatchObject({ failed: 1, blocked: 1 });
    expect(unrelated).toBeDefined();
    const deletes = async () =>
      (await server.requests()).filter((r) => r.method === 'DELETE' && r.path === '/user_homes/disk/broken.bin').length;
    expect(await deletes()).toBe(0);

    // Retry tries again (and fails again: the body is still gone); skip drops it and the delete goes out.
    const retry = await fetch(`${t.url}/v1/changes/${bad}/retry`, { method: 'POST', headers: auth(ADMIN_TOKEN) });
    expect(retry.status).toBe(200);
    await waitFor(
      async () => (await view(bad)).status === 'FAILED' && (await view(bad)).peers[0]!.attempts > attempts,
      10_000,
    );
    const skip = await fetch(`${t.url}/v1/changes/${bad}`, { method: 'DELETE', headers: auth(ADMIN_TOKEN) });
    expect(skip.status).toBe(200);
    await drained(t, 'server2');
    expect(await deletes()).toBe(1);
    expect(await peer(t, 'server2')).toMatchObject({ failed: 0, blocked: 0, pending: 0 });
    expect((await server.tree()).has('user_homes/disk/broken.bin')).toBe(false);
  }, 60_000);

  it('finds and replays an entry nobody rang for (the sweep of each ping tick)', async () => {
    const server = await apache();
    const t = await relay([peerOf('server2', server)]);
    await post(t, [{ action: 'makedir', path: '/user_homes/swept' }]);
    await drained(t, 'server2');
    // Written to the journal behind the replayer's back, as a lost ring would leave it.
    const lane = laneId('/user_homes', 'server2');
    await t.relay.store.create([
      {
        lane,
        id: new StampClock().next(),
        peer: 'server2',
        location: '/user_homes',
        action: 'makedir',
        path: '/user_homes/swept/unrung',
        createdAt: new Date().toISOString(),
        status: 'PENDING',
        attempts: 0,
      },
    ]);
    await waitFor(async () => (await server.tree()).get('user_homes/swept/unrung') === 'dir', 10_000);
    await drained(t, 'server2');
  }, 30_000);

  it('never writes a secret to its log: passwords, tokens, Authorization headers', async () => {
    const server = await apache();
    const lines: string[] = [];
    const logger = new PinoLogger({ sink: (line) => void lines.push(line), level: 'debug' });
    const wrongPassword = 'wrong-pässword-31337';
    const t = await startTestRelay(
      {
        peers: [peerOf('good', server), peerOf('bad', server, server.url, wrongPassword)],
        vfs: [{ path: '/user_homes', replicate: true }],
      },
      { logger },
    );
    cleanups.push(() => t.close());
    await post(t, [
      { action: 'makedir', path: '/user_homes/logs' },
      { action: 'upload', path: '/user_homes/logs/a.txt', body: Buffer.from('a') },
      { action: 'rename', path: '/user_homes/logs/missing.txt', target: '/user_homes/logs/b.txt' }, // CONFLICT
    ]);
    await fetch(`${t.url}/v1/changes`, { headers: auth('not-a-token-at-all-8642') }); // refused: 401
    await fetch(`${t.url}/v1/peers/bad/ping`, { method: 'POST', headers: auth(ADMIN_TOKEN) });
    await waitFor(
      async () => (await peer(t, 'good')).conflicts === 1 && (await peer(t, 'bad')).status === 'UNAUTHORIZED',
      20_000,
    );
    const log = lines.join('');
    expect(log).toContain('replayed');
    expect(log).toContain('UNAUTHORIZED');
    const basic = (password: string) => Buffer.from(`${server.username}:${password}`).toString('base64');
    for (const secret of [
      server.password,
      wrongPassword,
      ADMIN_TOKEN,
      NODE_A_TOKEN,
      'not-a-token-at-all-8642',
      basic(server.password),
      basic(wrongPassword),
    ]) {
      expect(log).not.toContain(secret);
    }
    expect(log.toLowerCase()).not.toContain('bearer ');
  }, 60_000);
});
