import { createHash, randomBytes } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigFile } from '../../src/config/schema.js';
import { silentLogger } from '../../src/core/logger.js';
import { createCloudRelay } from '../../src/runtime/cloud/relay.js';
import { type CloudServe, startCloudServe } from '../../src/runtime/cloud/serve.js';
import { type ApachePeer, apacheAvailable, peerConfig, startApache } from '../support/apache.js';
import { freshBucket, type Moto, motoAvailable, motoS3Client, startMoto } from '../support/moto.js';
import { waitFor } from '../support/node-client.js';
import { ADMIN_TOKEN, auth, NODE_A_TOKEN, NODE_B_TOKEN } from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';

/**
 * The rules of hostile-nodes.test.ts in cloud mode: `vfs-relay serve` on S3 + SQS (moto) with a real Apache peer,
 * and the Lambda API's app (the same Hono app the api function hands to API Gateway) without a server.
 */

const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
let moto: Moto;
let s3: S3Client;
let sqs: SQSClient;
let apache: ApachePeer;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  if (!motoAvailable || !apacheAvailable) return;
  moto = await startMoto();
  s3 = motoS3Client(moto.endpoint);
  sqs = new SQSClient({ region: 'us-east-1', endpoint: moto.endpoint, credentials });
  apache = await startApache();
});
afterAll(async () => {
  s3?.destroy();
  sqs?.destroy();
  await apache?.close();
  await moto?.close();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function cloudConfig(extra: Partial<ConfigFile> = {}) {
  const bucket = await freshBucket(s3);
  const queue = await sqs.send(
    new CreateQueueCommand({
      QueueName: `relay-${randomBytes(4).toString('hex')}.fifo`,
      Attributes: { FifoQueue: 'true', VisibilityTimeout: '30' },
    }),
  );
  return parseConfig(
    {
      listen: { host: '127.0.0.1', port: 0 },
      journal: `s3://${bucket}/relay`,
      queue: queue.QueueUrl,
      peers: [peerConfig(apache, 'server2')],
      vfs: [{ path: '/user_homes', replicate: true }],
      auth: { adminToken: ADMIN_TOKEN, nodeTokens: { 'node-a': NODE_A_TOKEN, 'node-b': NODE_B_TOKEN } },
      ...extra,
    },
    {},
    'test',
  );
}

const clients = () => ({
  logger: silentLogger,
  s3: { endpoint: moto.endpoint, region: 'us-east-1', forcePathStyle: true, credentials },
  sqs: { endpoint: moto.endpoint, region: 'us-east-1', credentials },
});

async function serve(extra: Partial<ConfigFile> = {}, presignedMaxBytes?: number): Promise<CloudServe> {
  const relay = await startCloudServe(await cloudConfig(extra), {
    ...clients(),
    poller: { waitTimeSeconds: 1 },
    ...(presignedMaxBytes !== undefined && { presignedMaxBytes }),
  });
  cleanups.push(() => relay.close());
  return relay;
}

async function call(base: string, path: string, init: RequestInit & { token?: string } = {}) {
  const { token = NODE_A_TOKEN, ...rest } = init;
  const res = await fetch(path.startsWith('http') ? path : `${base}${path}`, {
    ...rest,
    headers: { ...auth(token), ...(rest.headers as Record<string, string>) },
  });
  const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  return { status: res.status, code: (json.error as { code?: string } | undefined)?.code, json, headers: res.headers };
}

const post = (base: string, fields: Record<string, unknown>, token = NODE_A_TOKEN) =>
  call(base, '/v1/changes', {
    method: 'POST',
    token,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(fields),
  });

const sha = (body: Buffer | string) => createHash('sha256').update(body).digest('hex');

describeWithServer(
  'moto_server and Apache httpd',
  motoAvailable && apacheAvailable,
  'hostile nodes in cloud mode',
  () => {
    it('serve: uploads belong to their node, upload URLs through the relay carry a key, reserved and root paths refused', async () => {
      const relay = await serve({}, 16);
      const body = 'a body larger than one presigned PUT in this test';
      const opened = await post(relay.url, {
        action: 'upload',
        path: '/user_homes/c/own.txt',
        size: body.length,
        sha256: sha(body),
      });
      expect(opened.status).toBe(201);
      const id = opened.json.id as string;
      const url = (opened.json.upload as { url: string }).url;
      expect(url).toMatch(/\/body\?key=[\w-]{22}$/);
      const put = (target: string, token: string) =>
        call(relay.url, target, {
          method: 'PUT',
          token,
          headers: { 'content-type': 'application/octet-stream' },
          body,
        });
      expect((await put(url, NODE_B_TOKEN)).code).toBe('NOT_FOUND');
      expect((await put(url.replace(/\?.*/, ''), NODE_A_TOKEN)).code).toBe('NOT_FOUND');
      expect((await call(relay.url, `/v1/changes/${id}/commit`, { method: 'POST', token: NODE_B_TOKEN })).code).toBe(
        'NOT_FOUND',
      );
      expect((await put(url, NODE_A_TOKEN)).status).toBe(200);
      expect((await call(relay.url, `/v1/changes/${id}/commit`, { method: 'POST' })).status).toBe(200);
      await waitFor(async () => (await apache.tree()).get('user_homes/c/own.txt') === sha(body), 30_000);

      for (const [fields, code] of [
        [{ action: 'delete', path: '/.vfs-relay/config/users/john.XML' }, 'RESERVED_PATH'],
        [{ action: 'rename', path: '/user_homes/c/x', target: '/.vfs-relay/config' }, 'RESERVED_PATH'],
        [{ action: 'delete', path: '/user_homes' }, 'LOCATION_ROOT'],
        [{ action: 'upload', path: '/user_homes', size: 1 }, 'LOCATION_ROOT'],
      ] as const) {
        const answer = await post(relay.url, fields);
        expect([answer.status, answer.code], JSON.stringify(fields)).toEqual([400, code]);
      }
    }, 60_000);

    it('an upload that never gets its body is shown as the blocker, then expired by the sweep', async () => {
      // No serve timer here: only the sweeps this test runs can expire the upload.
      const relay = createCloudRelay(await cloudConfig({ limits: { uploadIdleExpirySeconds: 0.5 } }), clients());
      cleanups.push(() => relay.close());
      const request = async (path: string, init: RequestInit & { token?: string } = {}) => {
        const { token = NODE_A_TOKEN, ...rest } = init;
        const res = await relay.app.request(`https://api.example.test${path}`, {
          ...rest,
          headers: { ...auth(token), 'content-type': 'application/json' },
        });
        return { status: res.status, json: (await res.json()) as Record<string, unknown> };
      };
      const post = (fields: Record<string, unknown>) =>
        request('/v1/changes', { method: 'POST', body: JSON.stringify(fields) });
      const stuck = (await post({ action: 'upload', path: '/user_homes/s/stuck.iso', size: 10 })).json.id as string;
      const behind = (await post({ action: 'makedir', path: '/user_homes/s' })).json.id as string;
      const shown = await request(`/v1/changes/${behind}`, { token: ADMIN_TOKEN });
      expect(shown.json).toMatchObject({ status: 'BLOCKED', peers: [{ status: 'BLOCKED', blockedBy: stuck }] });
      let expired = 0;
      await waitFor(async () => {
        expired += (await relay.sweeper.run()).expiredUploads;
        return expired > 0;
      }, 30_000);
      expect(expired).toBe(1);
      expect((await request(`/v1/changes/${stuck}`, { token: ADMIN_TOKEN })).status).toBe(404);
      expect((await request(`/v1/changes/${behind}`, { token: ADMIN_TOKEN })).json).toMatchObject({
        status: 'PENDING',
      });
    }, 60_000);

    it('Lambda API: the same ownership, cap and rate limit, from the app API Gateway invokes', async () => {
      const config = await cloudConfig({
        limits: { maxUnfinishedUploadsPerNode: 1, nodeRequestsPerSecond: 0.001, nodeRequestBurst: 4 },
      });
      const relay = createCloudRelay(config, clients());
      cleanups.push(() => relay.close());
      const request = (path: string, init: RequestInit & { token?: string } = {}) => {
        const { token = NODE_A_TOKEN, ...rest } = init;
        return relay.app.request(`https://api.example.test${path}`, {
          ...rest,
          headers: { ...auth(token), 'content-type': 'application/json' },
        });
      };
      const upload = (path: string) =>
        request('/v1/changes', { method: 'POST', body: JSON.stringify({ action: 'upload', path, size: 1 }) });
      const first = await upload('/user_homes/l/1.txt');
      expect(first.status).toBe(201);
      const { id, upload: target } = (await first.json()) as { id: string; upload: { url: string } };
      expect(target.url).toContain('X-Amz-Signature='); // presigned: unguessable
      const second = await upload('/user_homes/l/2.txt');
      expect(second.status).toBe(429);
      expect(((await second.json()) as { error: { code: string } }).error.code).toBe('TOO_MANY_UPLOADS');
      const foreign = await request(`/v1/changes/${id}/commit`, { method: 'POST', token: NODE_B_TOKEN });
      expect(foreign.status).toBe(404);
      expect(((await foreign.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
      // node-a has spent its burst of 4 (two uploads, and the two below): the next is RATE_LIMITED.
      expect((await request(`/v1/changes/${id}/commit`, { method: 'POST' })).status).toBe(409); // BODY_MISSING
      await request('/v1/changes', {
        method: 'POST',
        body: JSON.stringify({ action: 'makedir', path: '/user_homes/l/d' }),
      });
      const limited = await request('/v1/changes', {
        method: 'POST',
        body: JSON.stringify({ action: 'makedir', path: '/user_homes/l/e' }),
      });
      expect(limited.status).toBe(429);
      expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(((await limited.json()) as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
    }, 60_000);
  },
);
