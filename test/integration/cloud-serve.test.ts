import { createHash, randomBytes } from 'node:crypto';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { messageGroupId } from '../../src/adapters/sqs-doorbell/groups.js';
import { parseConfig } from '../../src/config/load.js';
import { type LogFields, type Logger, silentLogger } from '../../src/core/logger.js';
import { createCloudRelay } from '../../src/runtime/cloud/relay.js';
import { type CloudServe, type CloudServeOptions, startCloudServe } from '../../src/runtime/cloud/serve.js';
import { type ApachePeer, apacheAvailable, peerConfig, startApache } from '../support/apache.js';
import { HoldingProxy } from '../support/holding-proxy.js';
import { freshBucket, type Moto, motoAvailable, motoS3Client, startMoto } from '../support/moto.js';
import { waitFor } from '../support/node-client.js';
import { parseExposition } from '../support/prometheus.js';
import { ADMIN_TOKEN, auth, NODE_A_TOKEN } from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';
import { mixedScript, type ScriptChange, sha256, TreeModel } from '../support/tree-model.js';

const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

let moto: Moto;
let s3: S3Client;
let sqs: SQSClient;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  if (!motoAvailable || !apacheAvailable) return;
  moto = await startMoto();
  s3 = motoS3Client(moto.endpoint);
  sqs = new SQSClient({ region: 'us-east-1', endpoint: moto.endpoint, credentials });
});
afterAll(async () => {
  s3?.destroy();
  sqs?.destroy();
  await moto?.close();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function apache(): Promise<ApachePeer> {
  const server = await startApache();
  cleanups.push(() => server.close());
  return server;
}

/** What each relay of these tests logged (the last 2,000 lines), for assertion messages. */
const relayLogs = new WeakMap<CloudServe, string[]>();

function recordingLogger(lines: string[]): Logger {
  const record = (level: string) => (message: string, fields?: LogFields) => {
    lines.push(`${level} ${message} ${JSON.stringify(fields ?? {})}`);
    if (lines.length > 2_000) lines.shift();
  };
  return { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') };
}

/** Each relay's bucket and queue, for another process on the same journal. */
const journals = new WeakMap<CloudServe, { bucket: string; queue: string }>();

/**
 * The whole cloud system in this process: API on Node, queue poller, sweep timer; S3 + SQS on moto. `where`: the
 * peer at another URL (a proxy in front of it), or the bucket and queue of another relay (a process after it).
 */
async function cloudRelay(
  peer: ApachePeer,
  extra: Partial<CloudServeOptions> = {},
  where: { peerUrl?: string; journalOf?: CloudServe } = {},
): Promise<CloudServe> {
  const lines: string[] = [];
  const shared = where.journalOf && journals.get(where.journalOf);
  const bucket = shared?.bucket ?? (await freshBucket(s3));
  const queue =
    shared?.queue ??
    (
      await sqs.send(
        new CreateQueueCommand({
          QueueName: `relay-${randomBytes(4).toString('hex')}.fifo`,
          Attributes: { FifoQueue: 'true', VisibilityTimeout: '30' },
        }),
      )
    ).QueueUrl!;
  const config = parseConfig(
    {
      listen: { host: '127.0.0.1', port: 0 },
      journal: `s3://${bucket}/relay`,
      queue,
      peers: [{ ...peerConfig(peer, 'server2'), ...(where.peerUrl && { url: where.peerUrl }) }],
      vfs: [{ path: '/user_homes', replicate: true }],
      auth: { adminToken: ADMIN_TOKEN, nodeTokens: { 'node-a': NODE_A_TOKEN } },
    },
    {},
    'test',
  );
  const relay = await startCloudServe(config, {
    logger: recordingLogger(lines),
    s3: { endpoint: moto.endpoint, region: 'us-east-1', forcePathStyle: true, credentials },
    sqs: { endpoint: moto.endpoint, region: 'us-east-1', credentials },
    poller: { waitTimeSeconds: 1 },
    ...extra,
  });
  cleanups.push(() => relay.close());
  relayLogs.set(relay, lines);
  journals.set(relay, { bucket, queue });
  return relay;
}

/** A node's upload as in cloud mode: POST the change, PUT the body to the presigned URL (no bearer), commit. */
async function post(
  relay: CloudServe,
  change: ScriptChange,
  body = change.body,
): Promise<{ id: string; commit?: Response }> {
  const { body: _, ...fields } = change;
  const payload = change.body
    ? { ...fields, size: change.body.length, sha256: createHash('sha256').update(change.body).digest('hex') }
    : fields;
  const res = await fetch(`${relay.url}/v1/changes`, {
    method: 'POST',
    headers: { ...auth(NODE_A_TOKEN), 'content-type': 'application/json' },
    body: JSON.stringify(payload),
  });
  const answer = (await res.json()) as { id: string; upload?: { url: string; headers: Record<string, string> } };
  if (res.status !== 201 && res.status !== 202)
    throw new Error(`POST ${change.path}: ${res.status} ${JSON.stringify(answer)}`);
  if (!answer.upload) return { id: answer.id };
  const { 'content-length': _length, ...headers } = answer.upload.headers;
  const put = await fetch(answer.upload.url, { method: 'PUT', headers, body });
  if (put.status !== 200) throw new Error(`PUT ${change.path}: ${put.status} ${await put.text()}`);
  const commit = await fetch(`${relay.url}/v1/changes/${answer.id}/commit`, {
    method: 'POST',
    headers: auth(NODE_A_TOKEN),
  });
  return { id: answer.id, commit };
}

async function postAll(relay: CloudServe, changes: readonly ScriptChange[]): Promise<void> {
  for (const change of changes) {
    const { commit } = await post(relay, change);
    if (commit && commit.status !== 200)
      throw new Error(`commit ${change.path}: ${commit.status} ${await commit.text()}`);
  }
}

interface PeerView {
  status: string;
  pending: number;
  conflicts: number;
  failed: number;
  blocked: number;
}

async function peerView(relay: CloudServe): Promise<PeerView> {
  const res = await fetch(`${relay.url}/v1/peers`, { headers: auth(ADMIN_TOKEN) });
  return ((await res.json()) as PeerView[])[0]!;
}

async function drained(relay: CloudServe, timeoutMs: number): Promise<PeerView> {
  await waitFor(
    async () => (await peerView(relay)).pending === 0,
    timeoutMs,
    async () => JSON.stringify(await peerView(relay)),
  );
  return peerView(relay);
}

async function expectTree(server: ApachePeer, model: TreeModel): Promise<void> {
  const actual = await server.tree();
  expect([...actual].filter(([p]) => p.startsWith('user_homes'))).toEqual([...model.sorted()]);
}

describeWithServer(
  'moto_server and Apache httpd',
  motoAvailable && apacheAvailable,
  'cloud mode (vfs-relay serve on S3 + SQS)',
  () => {
    it('replicates a mixed script of 100 changes to the exact tree', async () => {
      const server = await apache();
      const relay = await cloudRelay(server);
      // The script works on the location itself: its top-level folders spread over the lane's message groups,
      // and its renames and deletes of whole folders cross them.
      const { changes, model } = mixedScript({
        seed: 21,
        count: 100,
        base: '/user_homes',
        maxBytes: 512 * 1024,
        makeBase: false,
      });
      const groups = new Set(changes.map((c) => messageGroupId({ lane: 'l', location: '/user_homes', path: c.path })));
      expect(groups.size).toBeGreaterThan(4);
      expect(
        changes.some(
          (c) =>
            c.target &&
            messageGroupId({ lane: 'l', location: '/user_homes', path: c.path }) !==
              messageGroupId({ lane: 'l', location: '/user_homes', path: c.target }),
        ),
      ).toBe(true);
      const started = Date.now();
      await postAll(relay, changes);
      const posted = Date.now();
      const after = await drained(relay, 90_000);
      const done = Date.now();
      expect(after).toMatchObject({ status: 'ONLINE', pending: 0, conflicts: 0, failed: 0 });
      await expectTree(server, model);
      console.info(
        `cloud serve: ${changes.length} changes posted in ${posted - started} ms, replayed by ${done - started} ms ` +
          `(${((changes.length * 1000) / (done - started)).toFixed(1)} changes/s end to end on one lane)`,
      );
    }, 150_000);

    it('keeps a backlog while the peer is down and drains it when a ping finds it back', async () => {
      const server = await apache();
      const relay = await cloudRelay(server);
      await server.stop();
      const model = new TreeModel();
      const changes: ScriptChange[] = Array.from({ length: 60 }, (_, i) => ({
        action: 'upload' as const,
        path: `/user_homes/u${i % 12}/f${i}.txt`,
        body: randomBytes(2048),
      }));
      for (const change of changes) model.apply(change);
      await postAll(relay, changes);
      await waitFor(async () => (await peerView(relay)).status === 'OFFLINE', 20_000);
      expect(await peerView(relay)).toMatchObject({ pending: 60 });

      await server.start();
      const started = Date.now();
      await drained(relay, 60_000);
      const ms = Date.now() - started;
      await expectTree(server, model);
      console.info(
        `cloud serve: drained 60 uploads in ${ms} ms after the peer came back (${((60 * 1000) / ms).toFixed(1)}/s)`,
      );
    }, 120_000);

    it('takes a body through the presigned URL, and refuses a wrong size or checksum at commit (422)', async () => {
      const server = await apache();
      const relay = await cloudRelay(server);
      const body = randomBytes(200_000);
      const good = { action: 'upload' as const, path: '/user_homes/up/good.bin', body };
      const ok = await post(relay, good);
      expect(ok.commit?.status).toBe(200);

      const short = await post(relay, { action: 'upload', path: '/user_homes/up/short.bin', body }, body.subarray(1));
      expect(short.commit?.status).toBe(422);
      expect(await short.commit?.json()).toMatchObject({ error: { code: 'SIZE_MISMATCH' } });

      const forged = Buffer.from(body);
      forged[0] = (forged[0]! + 1) % 256;
      const wrong = await post(relay, { action: 'upload', path: '/user_homes/up/wrong.bin', body }, forged);
      expect(wrong.commit?.status).toBe(422);
      expect(await wrong.commit?.json()).toMatchObject({ error: { code: 'CHECKSUM_MISMATCH' } });

      await waitFor(async () => (await server.tree()).has('user_homes/up/good.bin'), 20_000);
      const tree = await server.tree();
      expect(tree.get('user_homes/up/good.bin')).toBe(sha256(body));
      expect(tree.has('user_homes/up/short.bin')).toBe(false);
      expect(tree.has('user_homes/up/wrong.bin')).toBe(false);
    }, 60_000);

    it('parks a refused rename as CONFLICT, keeps unrelated paths flowing, holds what overlaps; retry releases both', async () => {
      const server = await apache();
      const relay = await cloudRelay(server);
      await postAll(relay, [{ action: 'makedir', path: '/user_homes/john' }]);
      await drained(relay, 30_000);
      const { id: rename } = await post(relay, {
        action: 'rename',
        path: '/user_homes/john/ghost',
        target: '/user_homes/john/found',
      });
      await waitFor(
        async () => (await peerView(relay)).conflicts === 1,
        30_000,
        async () => JSON.stringify(await peerView(relay)),
      );
      const inside = Buffer.from('waits behind the conflict');
      await postAll(relay, [
        { action: 'upload', path: '/user_homes/john/found/inside.txt', body: inside },
        { action: 'upload', path: '/user_homes/mary/unrelated.txt', body: Buffer.from('flows') },
      ]);
      await waitFor(async () => (await server.tree()).has('user_homes/mary/unrelated.txt'), 30_000);
      expect((await server.tree()).has('user_homes/john/found')).toBe(false);
      expect(await peerView(relay)).toMatchObject({ conflicts: 1, blocked: 1 });
      // /metrics and the console of `serve` in cloud mode see the same.
      const scrape = await fetch(`${relay.url}/metrics`, { headers: auth(ADMIN_TOKEN) });
      const metrics = parseExposition(await scrape.text());
      expect(metrics.value('vfs_relay_conflicts', { peer: 'server2' })).toBe(1);
      expect(metrics.value('vfs_relay_changes_total', { peer: 'server2', outcome: 'conflict' })).toBeGreaterThan(0);
      const panel = await (await fetch(`${relay.url}/console/panel`, { headers: auth(ADMIN_TOKEN) })).text();
      expect(panel).toContain(`data-change="${rename}" data-peer="server2" data-status="CONFLICT"`);

      // The operator creates the missing source on the peer, then retries: the rename, then what waited.
      const basic = {
        authorization: `Basic ${Buffer.from(`${server.username}:${server.password}`).toString('base64')}`,
      };
      await fetch(`${server.url}user_homes/john/ghost/`, { method: 'MKCOL', headers: basic });
      const retry = await fetch(`${relay.url}/v1/changes/${rename}/retry`, {
        method: 'POST',
        headers: auth(ADMIN_TOKEN),
      });
      // Seen once in CI: 404 here. The answer, the peer's figures and the relay's lines about the rename tell why.
      const logged = relayLogs.get(relay)!.filter((line) => line.includes(rename));
      expect(retry.status, [await retry.text(), JSON.stringify(await peerView(relay)), ...logged].join('\n')).toBe(200);
      await drained(relay, 60_000);
      const tree = await server.tree();
      expect(tree.get('user_homes/john/found/inside.txt')).toBe(createHash('sha256').update(inside).digest('hex'));
      expect(tree.has('user_homes/john/ghost')).toBe(false);
      expect(await peerView(relay)).toMatchObject({ conflicts: 0, blocked: 0, pending: 0 });
    }, 150_000);

    it('takes a body larger than one presigned PUT allows through serve itself, and replays it', async () => {
      const server = await apache();
      const relay = await cloudRelay(server, { presignedMaxBytes: 256 * 1024 });
      const big = randomBytes(1024 * 1024);
      const res = await fetch(`${relay.url}/v1/changes`, {
        method: 'POST',
        headers: { ...auth(NODE_A_TOKEN), 'content-type': 'application/json' },
        body: JSON.stringify({ action: 'upload', path: '/user_homes/big/over-the-limit.bin', size: big.length }),
      });
      const { id, upload } = (await res.json()) as { id: string; upload: { url: string } };
      // The relay itself, not a presigned S3 URL; its key makes the URL unguessable.
      expect(upload.url).toMatch(new RegExp(`^${relay.url}/v1/changes/${id}/body\\?key=[\\w-]{22}$`));
      const put = await fetch(upload.url, { method: 'PUT', headers: auth(NODE_A_TOKEN), body: big });
      expect(put.status).toBe(200);
      const commit = await fetch(`${relay.url}/v1/changes/${id}/commit`, {
        method: 'POST',
        headers: auth(NODE_A_TOKEN),
      });
      expect(commit.status).toBe(200);
      await drained(relay, 60_000);
      expect((await server.tree()).get('user_homes/big/over-the-limit.bin')).toBe(
        createHash('sha256').update(big).digest('hex'),
      );

      // The API Lambda (no long-running process to stream through) refuses such a body up front.
      const lambda = createCloudRelay(relay.relay.config, {
        presignedMaxBytes: 256 * 1024,
        logger: silentLogger,
        s3: { endpoint: moto.endpoint, region: 'us-east-1', forcePathStyle: true, credentials },
        sqs: { endpoint: moto.endpoint, region: 'us-east-1', credentials },
      });
      const refused = await lambda.app.request('/v1/changes', {
        method: 'POST',
        headers: { ...auth(NODE_A_TOKEN), 'content-type': 'application/json' },
        body: JSON.stringify({ action: 'upload', path: '/user_homes/big/too-big.bin', size: big.length }),
      });
      expect(refused.status).toBe(413);
      await lambda.close();
    }, 120_000);

    // A shutdown while a replay is in flight closed the peers under it after the poller's grace: the failed request
    // marked the healthy peer OFFLINE in the shared state for every process, recorded a failed attempt, and the
    // batch's heartbeat kept its message in flight (found by a review). Such replays are now aborted, recording
    // nothing, and their messages go back.
    it('a shutdown aborts a replay in flight past the grace: the peer stays ONLINE, the change arrives later', async () => {
      const server = await apache();
      const proxy = new HoldingProxy(server.port);
      await proxy.start();
      cleanups.push(() => proxy.close());
      const first = await cloudRelay(server, { poller: { waitTimeSeconds: 1, graceMs: 200 } }, { peerUrl: proxy.url });
      const lines = relayLogs.get(first)!;
      // The replay's first request to the peer is held at the proxy: a slow peer.
      const held = proxy.hold((r) => r.method === 'MKCOL');
      cleanups.push(async () => held.release());
      const { commit } = await post(first, {
        action: 'upload',
        path: '/user_homes/shutdown/a.txt',
        body: Buffer.from('a'),
      });
      expect(commit?.status).toBe(200);
      await held.arrived;

      // SIGTERM: close(). The peer answers the held request only once the peers are being closed, as a slow one would.
      const closeRelay = first.relay.close.bind(first.relay);
      first.relay.close = async () => {
        const closing = closeRelay();
        held.release();
        await closing;
      };
      await first.close();
      // However the replay ended (before: after close() returned, failing against the closed peer).
      await waitFor(
        async () =>
          lines.some((l) => /replay stopped by the shutdown|replay did not apply|replayed |replay failed/.test(l)),
        30_000,
        () => lines.join('\n'),
      );
      const state = await s3
        .send(new GetObjectCommand({ Bucket: journals.get(first)!.bucket, Key: 'relay/peers/server2.json' }))
        .then((o) => o.Body!.transformToString())
        .catch(() => '{}');
      expect((JSON.parse(state) as { status?: string }).status ?? 'ONLINE').toBe('ONLINE');
      expect(lines.filter((l) => /replay did not apply|replayed /.test(l))).toEqual([]);
      expect(lines.some((l) => l.includes('replay stopped by the shutdown'))).toBe(true);

      // Nothing lost: the next process replays the change.
      const next = await cloudRelay(server, {}, { journalOf: first });
      await waitFor(async () => (await server.tree()).has('user_homes/shutdown/a.txt'), 30_000);
      expect(await drained(next, 30_000)).toMatchObject({ pending: 0, failed: 0, conflicts: 0 });
    }, 90_000);

    it('a long upload does not hold back the message groups of the rest of its batch', async () => {
      const server = await apache();
      const proxy = new HoldingProxy(server.port);
      await proxy.start();
      cleanups.push(() => proxy.close());
      const group = (path: string) => messageGroupId({ lane: 'l', location: '/user_homes', path });
      const big = '/user_homes/big/a.bin';
      const small = '/user_homes/other/b.txt';
      expect(group(big)).not.toBe(group(small)); // two groups, one batch
      // Both changes are journaled and rung before anything receives: they arrive in one batch.
      const quiet = await cloudRelay(server, { poller: { loops: 0 } }, { peerUrl: proxy.url });
      const held = proxy.hold((r) => r.method === 'PUT' && r.path.includes('/big/'));
      cleanups.push(async () => held.release());
      await postAll(quiet, [
        { action: 'upload', path: big, body: Buffer.from('a long transfer') },
        { action: 'upload', path: small, body: Buffer.from('first') },
      ]);
      const relay = await cloudRelay(
        server,
        { poller: { loops: 2, waitTimeSeconds: 1 }, acknowledgeAfterMs: 50 },
        { peerUrl: proxy.url, journalOf: quiet },
      );
      await held.arrived; // the big file's PUT is on its way to the peer, and stays there
      await waitFor(
        async () => (await server.tree()).get('user_homes/other/b.txt') === sha256(Buffer.from('first')),
        30_000,
      );

      // A newer change in the small file's group: SQS hands it out only once the first one's message is deleted.
      await postAll(relay, [{ action: 'upload', path: small, body: Buffer.from('second') }]);
      await waitFor(
        async () => (await server.tree()).get('user_homes/other/b.txt') === sha256(Buffer.from('second')),
        30_000,
        () => relayLogs.get(relay)!.slice(-20).join('\n'),
      );
      expect((await server.tree()).has('user_homes/big/a.bin')).toBe(false); // still in transfer

      held.release();
      expect(await drained(relay, 30_000)).toMatchObject({ pending: 0, failed: 0, conflicts: 0 });
      expect((await server.tree()).get('user_homes/big/a.bin')).toBe(sha256(Buffer.from('a long transfer')));
    }, 90_000);

    it('replays a rename across message groups after the older changes it overlaps', async () => {
      const server = await apache();
      const relay = await cloudRelay(server);
      const model = new TreeModel();
      // Folders "alpha" and "omega" hash to different groups of the lane; the rename is journaled in alpha's.
      const script: ScriptChange[] = [
        { action: 'makedir', path: '/user_homes/alpha' },
        { action: 'upload', path: '/user_homes/alpha/a.txt', body: Buffer.from('from alpha') },
        { action: 'upload', path: '/user_homes/omega/b.txt', body: Buffer.from('old b') },
        { action: 'rename', path: '/user_homes/alpha/a.txt', target: '/user_homes/omega/b.txt' },
        { action: 'upload', path: '/user_homes/omega/b.txt/../c.txt'.replace('/b.txt/..', ''), body: Buffer.from('c') },
        { action: 'rename', path: '/user_homes/omega', target: '/user_homes/alpha/omega' },
        { action: 'upload', path: '/user_homes/alpha/omega/d.txt', body: Buffer.from('d') },
      ];
      for (const change of script) model.apply(change);
      await postAll(relay, script);
      await drained(relay, 30_000);
      await expectTree(server, model);
      expect((await server.tree()).get('user_homes/alpha/omega/b.txt')).toBe(sha256(Buffer.from('from alpha')));
    }, 60_000);
  },
);
