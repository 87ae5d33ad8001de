import { createHash, randomBytes } from 'node:crypto';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/logger.js';
import { CONFIG_ENV } from '../../src/runtime/cloud/env.js';
import { type CloudServe, startCloudServe } from '../../src/runtime/cloud/serve.js';
import { createEdgeRelay } from '../../src/runtime/edge/relay.js';
import { type ApachePeer, apacheAvailable, peerConfig, startApache } from '../support/apache.js';
import { allDifferences, jobEnd, makeFolder, startJob, writeTree } from '../support/convergence.js';
import { HoldingProxy } from '../support/holding-proxy.js';
import { freshBucket, type Moto, motoAvailable, motoS3Client, startMoto } from '../support/moto.js';
import { postChange, waitFor } from '../support/node-client.js';
import { ADMIN_TOKEN, auth, NODE_A_TOKEN } from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';

// Verify and resync in cloud mode: job state in S3 (moto), writes through the SQS doorbell and the cloud replay
// worker, slices run by `serve`'s job loop (the ping Lambda runs the same slices), live changes recorded in the
// S3 touch log.

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

const sha = (body: string) => createHash('sha256').update(body).digest('hex');

async function apache(): Promise<ApachePeer> {
  const server = await startApache();
  cleanups.push(() => server.close());
  return server;
}

async function cloud(
  peer: ApachePeer,
  source: { url: string; username: string; password: string },
  extra: Record<string, unknown> = {},
): Promise<{ relay: CloudServe; bucket: string; raw: Record<string, unknown> }> {
  const bucket = await freshBucket(s3);
  const queue = await sqs.send(
    new CreateQueueCommand({
      QueueName: `relay-${randomBytes(4).toString('hex')}.fifo`,
      Attributes: { FifoQueue: 'true', VisibilityTimeout: '30' },
    }),
  );
  const raw = {
    listen: { host: '127.0.0.1', port: 0 },
    journal: `s3://${bucket}/relay`,
    queue: queue.QueueUrl,
    peers: [peerConfig(peer, 'server2')],
    sources: [{ name: 'primary', ...source }],
    vfs: [{ path: '/user_homes', replicate: true }],
    auth: { adminToken: ADMIN_TOKEN, nodeTokens: { 'node-a': NODE_A_TOKEN } },
    ...extra,
  };
  const config = parseConfig(raw, {}, 'test');
  const relay = await startCloudServe(config, {
    logger: silentLogger,
    s3: { endpoint: moto.endpoint, region: 'us-east-1', forcePathStyle: true, credentials },
    sqs: { endpoint: moto.endpoint, region: 'us-east-1', credentials },
    poller: { waitTimeSeconds: 1 },
  });
  cleanups.push(() => relay.close());
  return { relay, bucket, raw };
}

async function keys(bucket: string, prefix: string): Promise<string[]> {
  const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (page.Contents ?? []).map((o) => o.Key!);
}

const body = { from: 'primary', path: '/user_homes' };

describeWithServer(
  'moto_server and Apache httpd',
  motoAvailable && apacheAvailable,
  'verify and resync in cloud mode',
  () => {
    it('resyncs an empty peer to the source, then verifies identical; the job lives in S3', async () => {
      const source = await apache();
      const peer = await apache();
      const files: Record<string, Buffer> = {};
      for (let i = 0; i < 24; i++) files[`user_homes/u${i % 4}/f${i}.bin`] = randomBytes(200 + i * 31);
      await writeTree(source, files, new Date('2024-03-01T10:00:00Z'));
      await makeFolder(peer, 'user_homes');
      const { relay, bucket } = await cloud(peer, {
        url: source.url,
        username: source.username,
        password: source.password,
      });

      const verify = await jobEnd(relay.url, await startJob(relay.url, 'verify', 'server2', body), 90_000);
      expect(verify).toMatchObject({ status: 'DONE', counts: { missing: 28 } });
      expect(await allDifferences(relay.url, verify.id, 10)).toHaveLength(28);

      const resync = await jobEnd(relay.url, await startJob(relay.url, 'resync', 'server2', body), 90_000);
      expect(resync).toMatchObject({ status: 'DONE', counts: { copied: 28, failed: 0 } });
      expect(await peer.tree()).toEqual(await source.tree());
      expect(await keys(bucket, `relay/jobs/${resync.id}/`)).toContain(`relay/jobs/${resync.id}/job.json`);
      expect(await keys(bucket, 'relay/jobs-running/')).toEqual([]);
      expect(await keys(bucket, `relay/jobs/${resync.id}/results/`)).toEqual([]);

      const again = await jobEnd(relay.url, await startJob(relay.url, 'verify', 'server2', body), 90_000);
      expect(again).toMatchObject({ status: 'DONE', counts: { same: 28, missing: 0, different: 0, extra: 0 } });
    }, 300_000);

    it('a live upload applied before the job compares the path is left alone (the S3 touch log)', async () => {
      const source = await apache();
      const peer = await apache();
      await writeTree(source, { 'user_homes/p.txt': 'from the source', 'user_homes/q.txt': 'q' });
      await makeFolder(peer, 'user_homes');
      const proxy = new HoldingProxy(source.port);
      await proxy.start();
      cleanups.push(() => proxy.close());
      const { relay } = await cloud(peer, { url: proxy.url, username: source.username, password: source.password });
      const held = proxy.hold((r) => r.method === 'PROPFIND' && r.path === '/user_homes/');
      const id = await startJob(relay.url, 'resync', 'server2', body);
      await held.arrived; // armed: the API records live changes; the walk waits for the listing

      await postChange(relay.url, NODE_A_TOKEN, {
        action: 'upload',
        path: '/user_homes/p.txt',
        body: Buffer.from('live'),
      });
      await waitFor(async () => (await peer.tree()).get('user_homes/p.txt') === sha('live'), 30_000);
      held.release();

      const job = await jobEnd(relay.url, id, 90_000);
      expect(job).toMatchObject({ status: 'DONE', counts: { skipped: 1, copied: 1 } });
      const tree = await peer.tree();
      expect(tree.get('user_homes/p.txt')).toBe(sha('live'));
      expect(tree.get('user_homes/q.txt')).toBe(sha('q'));
    }, 180_000);

    it('a live delete taken by the edge API reaches a running resync: the job does not copy the file back', async () => {
      const source = await apache();
      const peer = await apache();
      await writeTree(source, { 'user_homes/p.txt': 'deleted on the primary meanwhile', 'user_homes/q.txt': 'q' });
      await makeFolder(peer, 'user_homes');
      const proxy = new HoldingProxy(source.port);
      await proxy.start();
      cleanups.push(() => proxy.close());
      const { relay, raw } = await cloud(peer, {
        url: proxy.url,
        username: source.username,
        password: source.password,
      });
      // The same journal and queue through the edge build of the API (workerd, Deno, Bun run the same code).
      const edge = createEdgeRelay(
        {
          [CONFIG_ENV]: JSON.stringify(raw),
          AWS_ENDPOINT_URL: moto.endpoint,
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
        },
        silentLogger,
      );
      const held = proxy.hold((r) => r.method === 'PROPFIND' && r.path === '/user_homes/');
      const id = await startJob(relay.url, 'resync', 'server2', body);
      await held.arrived; // armed: every API records live changes; the walk waits for the listing

      const answer = await edge.app.fetch(
        new Request('http://edge.test/v1/changes', {
          method: 'POST',
          headers: { ...auth(NODE_A_TOKEN), 'content-type': 'application/json' },
          body: JSON.stringify({ action: 'delete', path: '/user_homes/p.txt' }),
        }),
      );
      expect(answer.status).toBe(202);
      await waitFor(async () => {
        const page = await fetch(`${relay.url}/v1/changes`, { headers: auth(ADMIN_TOKEN) });
        return ((await page.json()) as { items: unknown[] }).items.length === 0; // replayed (404: done)
      }, 30_000);
      held.release();

      const job = await jobEnd(relay.url, id, 90_000);
      expect(job).toMatchObject({ status: 'DONE', counts: { skipped: 1, copied: 1 } });
      const tree = await peer.tree();
      expect(tree.has('user_homes/p.txt')).toBe(false);
      expect(tree.get('user_homes/q.txt')).toBe(sha('q'));
    }, 180_000);

    it("a live change into a folder a resync's removal is HELD for goes on: the job leaves the removal out", async () => {
      const source = await apache();
      const peer = await apache();
      await writeTree(source, { 'user_homes/keep.txt': 'kept' });
      const extras: Record<string, string> = { 'user_homes/keep.txt': 'kept' };
      for (let i = 0; i < 8; i++) extras[`user_homes/0big/f${i}.txt`] = 'extra';
      await writeTree(peer, extras);
      const from = { url: source.url, username: source.username, password: source.password };
      const { relay } = await cloud(peer, from, { deleteGuard: { maxDeletes: 5, windowSeconds: 60 } });
      const id = await startJob(relay.url, 'resync', 'server2', { ...body, delete: true });
      const held = async () => {
        const res = await fetch(`${relay.url}/v1/changes?status=HELD`, { headers: auth(ADMIN_TOKEN) });
        return ((await res.json()) as { items: { path: string }[] }).items.map((c) => c.path);
      };
      await waitFor(async () => (await held()).includes('/user_homes/0big'), 90_000); // the folder rule, at replay
      await postChange(relay.url, NODE_A_TOKEN, { action: 'makedir', path: '/user_homes/0big/new' });
      // No operator: the slice finds the removal touched and puts it back; the job skips it, the makedir follows.
      await waitFor(async () => (await peer.tree()).has('user_homes/0big/new'), 120_000);
      expect(await held()).toEqual([]);
      const done = await jobEnd(relay.url, id, 120_000);
      expect(done).toMatchObject({ status: 'DONE', counts: { held: 1, skipped: 1, failed: 0 } });
      expect((await peer.tree()).has('user_homes/0big/f0.txt')).toBe(true);
    }, 300_000);

    it('cancel ends a running job CANCELLED', async () => {
      const source = await apache();
      const peer = await apache();
      await writeTree(source, { 'user_homes/a/x.txt': 'x' });
      await makeFolder(peer, 'user_homes');
      const proxy = new HoldingProxy(source.port);
      await proxy.start();
      cleanups.push(() => proxy.close());
      const { relay } = await cloud(peer, { url: proxy.url, username: source.username, password: source.password });
      const held = proxy.hold((r) => r.method === 'PROPFIND' && r.path === '/user_homes/');
      const id = await startJob(relay.url, 'verify', 'server2', body);
      await held.arrived;
      const res = await fetch(`${relay.url}/v1/jobs/${id}`, { method: 'DELETE', headers: auth(ADMIN_TOKEN) });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ status: 'CANCELLED' });
      held.release();
      expect((await jobEnd(relay.url, id, 60_000)).status).toBe('CANCELLED');
      const again = await fetch(`${relay.url}/v1/jobs/${id}`, { method: 'DELETE', headers: auth(ADMIN_TOKEN) });
      expect(again.status).toBe(409);
    }, 120_000);
  },
);
