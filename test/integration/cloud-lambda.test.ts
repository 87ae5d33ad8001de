import { createHash, randomBytes } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SweepReport } from '../../src/runtime/cloud/sweep.js';
import { type ApachePeer, apacheAvailable, startApache } from '../support/apache.js';
import { apiEvent as lambdaApiEvent, lambdaContext, sqsRecord } from '../support/lambda-events.js';
import { freshBucket, type Moto, motoAvailable, motoS3Client, startMoto } from '../support/moto.js';
import { ADMIN_TOKEN, NODE_A_TOKEN } from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';
import { mixedScript, type ScriptChange, sha256, type TreeModel } from '../support/tree-model.js';

/**
 * The three Lambda handlers in this process, as Lambda would call them: API Gateway v2 events for the API, SQS
 * events built from messages really received from the (moto) queue for replay, a scheduled event for ping.
 */

type ApiHandler = (event: APIGatewayProxyEventV2) => Promise<{ statusCode: number; body: string }>;
type ReplayHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;
type PingHandler = (event: unknown) => Promise<SweepReport>;

let moto: Moto;
let s3: S3Client;
let sqs: SQSClient;
let peer: ApachePeer;
let queueUrl: string;
let api: ApiHandler;
let replay: ReplayHandler;
let ping: PingHandler;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  if (!motoAvailable || !apacheAvailable) return;
  moto = await startMoto();
  s3 = motoS3Client(moto.endpoint);
  sqs = new SQSClient({
    region: 'us-east-1',
    endpoint: moto.endpoint,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  peer = await startApache();
  const bucket = await freshBucket(s3);
  const queue = await sqs.send(
    new CreateQueueCommand({ QueueName: 'relay.fifo', Attributes: { FifoQueue: 'true', VisibilityTimeout: '30' } }),
  );
  queueUrl = queue.QueueUrl!;
  // What the Lambda environment holds: the config JSON (secrets by name) and the standard AWS variables.
  Object.assign(process.env, {
    VFS_RELAY_CONFIG_JSON: JSON.stringify({
      journal: `s3://${bucket}/relay`,
      queue: queueUrl,
      peers: [
        {
          name: 'server2',
          url: peer.url,
          username: peer.username,
          password: { env: 'PEER_PASSWORD' },
          pingIntervalSeconds: 1,
        },
      ],
      // /mixed is the location the mixed script works in: its top-level folders spread over the lane's groups.
      vfs: [
        { path: '/user_homes', replicate: true },
        { path: '/mixed', replicate: true },
      ],
      auth: { adminToken: { env: 'ADMIN_TOKEN' }, nodeTokens: { 'node-a': { env: 'NODE_A_TOKEN' } } },
    }),
    PEER_PASSWORD: peer.password,
    ADMIN_TOKEN,
    NODE_A_TOKEN,
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    VFS_RELAY_LOG_LEVEL: 'error',
  });
  // Imported only now: each function reads its configuration from the environment once, at its cold start.
  const modules = [
    await import('../../functions/api.js'),
    await import('../../functions/replay.js'),
    await import('../../functions/ping.js'),
  ] as const;
  api = modules[0].handler as unknown as ApiHandler;
  replay = modules[1].handler;
  ping = modules[2].handler as PingHandler;
  for (const module of modules) closers.push(() => module.relay.close());
}, 60_000);

afterAll(async () => {
  for (const close of closers) await close();
  await peer?.close();
  s3?.destroy();
  sqs?.destroy();
  await moto?.close();
});

function apiEvent(method: string, path: string, token: string, body?: unknown): APIGatewayProxyEventV2 {
  return lambdaApiEvent({
    method,
    url: path,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined && { 'content-type': 'application/json' }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
}

async function call(method: string, path: string, token: string, body?: unknown) {
  const response = await api(apiEvent(method, path, token, body));
  return { status: response.statusCode, json: JSON.parse(response.body || 'null') };
}

/** A node's change through the API Lambda; an upload's body goes to the presigned S3 URL, never through Lambda. */
async function post(change: ScriptChange): Promise<string> {
  const { body, ...fields } = change;
  const payload = body
    ? { ...fields, size: body.length, sha256: createHash('sha256').update(body).digest('hex') }
    : fields;
  const res = await call('POST', '/v1/changes', NODE_A_TOKEN, payload);
  if (res.status !== 201 && res.status !== 202) throw new Error(`POST ${change.path}: ${JSON.stringify(res)}`);
  if (res.status === 202) return res.json.id;
  const { url, headers } = res.json.upload as { url: string; headers: Record<string, string> };
  expect(url).toMatch(/X-Amz-Signature=/);
  const { 'content-length': _, ...rest } = headers;
  const put = await fetch(url, { method: 'PUT', headers: rest, body });
  expect(put.status).toBe(200);
  const commit = await call('POST', `/v1/changes/${res.json.id}/commit`, NODE_A_TOKEN);
  if (commit.status !== 200) throw new Error(`commit ${change.path}: ${JSON.stringify(commit)}`);
  return res.json.id;
}

async function receive(max = 10): Promise<Message[]> {
  const received = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: max,
      VisibilityTimeout: 30,
      MessageSystemAttributeNames: ['All'],
    }),
  );
  return received.Messages ?? [];
}

/** One replay invocation for these messages; deletes what it did not report as failed (as the ESM does). */
async function invoke(messages: Message[]): Promise<SQSBatchResponse> {
  const response = await replay({ Records: messages.map(sqsRecord) }, lambdaContext);
  const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
  const done = messages.filter((m) => !failed.has(m.MessageId!));
  if (done.length > 0) {
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
  }
  return response;
}

/** Delivers until the queue is empty (bounded). */
async function deliverAll(timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let empty = 0;
  while (empty < 2) {
    if (Date.now() > deadline) throw new Error('the queue did not empty in time');
    const messages = await receive();
    if (messages.length === 0) empty += 1;
    else {
      empty = 0;
      expect((await invoke(messages)).batchItemFailures).toEqual([]);
    }
  }
}

async function pending(): Promise<number> {
  const res = await call('GET', '/v1/peers', ADMIN_TOKEN);
  return (res.json as { pending: number }[])[0]!.pending;
}

/** Delivers, and runs the ping Lambda whenever the queue runs dry with work left, until nothing is pending. */
async function drain(timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  await deliverAll(timeoutMs);
  while ((await pending()) > 0) {
    if (Date.now() > deadline) throw new Error(`still ${await pending()} pending`);
    await ping({ source: 'aws.events', 'detail-type': 'Scheduled Event' });
    await deliverAll(Math.max(1000, deadline - Date.now()));
  }
}

async function expectTree(base: string, model: TreeModel): Promise<void> {
  const actual = await peer.tree();
  const rel = base.replace(/^\//, '');
  expect([...actual].filter(([p]) => p === rel || p.startsWith(`${rel}/`))).toEqual(
    [...model.sorted()].filter(([p]) => p === rel || p.startsWith(`${rel}/`)),
  );
}

describeWithServer(
  'moto_server and Apache httpd',
  motoAvailable && apacheAvailable,
  'cloud mode through the Lambda handlers',
  () => {
    it('replicates a mixed script, through a peer outage that the ping function recovers', async () => {
      const base = '/mixed';
      const { changes, model } = mixedScript({ seed: 33, count: 80, base, maxBytes: 256 * 1024, makeBase: false });
      for (const change of changes.slice(0, 40)) await post(change);
      await drain();

      await peer.stop();
      for (const change of changes.slice(40)) await post(change);
      await deliverAll(); // acknowledged: the peer is down, the journal keeps them
      const down = await call('GET', '/v1/peers', ADMIN_TOKEN);
      expect(down.json[0]).toMatchObject({ status: 'OFFLINE', pending: 40 });

      await peer.start();
      const report = await ping({ source: 'aws.events' });
      expect(report.peers[0]).toMatchObject({ peer: 'server2', status: 'ONLINE', pending: 40 });
      expect(report.redriven).toBeGreaterThan(0);
      await drain();
      await expectTree(base, model);
    }, 180_000);

    it('applies a message delivered twice once on the peer', async () => {
      const path = '/user_homes/dup/once.bin';
      const body = randomBytes(1000);
      await post({ action: 'upload', path, body });
      const [message] = await receive(1);
      expect(message).toBeDefined();
      const mark = (await peer.requests()).length;
      expect((await replay({ Records: [sqsRecord(message!)] }, lambdaContext)).batchItemFailures).toEqual([]);
      // The same message again (a redelivery), then the deletion the event source mapping would make.
      expect((await invoke([message!])).batchItemFailures).toEqual([]);
      const puts = (await peer.requests()).slice(mark).filter((r) => r.method === 'PUT' && r.path === path);
      expect(puts).toHaveLength(1);
      expect((await peer.tree()).get(path.slice(1))).toBe(sha256(body));
      expect(await pending()).toBe(0);
    }, 60_000);

    it('holds a rename delivered before an older overlapping change of another group, then applies both in order', async () => {
      // "alpha" and "omega" are children of the location /user_homes: they hash to different message groups.
      const seed: ScriptChange = { action: 'upload', path: '/user_homes/alpha/a.txt', body: Buffer.from('alpha a') };
      const older: ScriptChange = { action: 'upload', path: '/user_homes/omega/b.txt', body: Buffer.from('new b') };
      const rename: ScriptChange = {
        action: 'rename',
        path: '/user_homes/alpha/a.txt',
        target: '/user_homes/omega/b.txt',
      };
      await post(seed);
      await drain();

      const olderId = await post(older);
      const renameId = await post(rename);
      const messages = [...(await receive()), ...(await receive())];
      const byId = new Map(messages.map((m) => [(JSON.parse(m.Body!) as { id: string }).id, m]));
      const first = byId.get(olderId)!;
      const second = byId.get(renameId)!;
      expect(first.Attributes?.MessageGroupId).not.toBe(second.Attributes?.MessageGroupId);

      // The rename's group is delivered first: it must wait for the older upload to omega/b.txt.
      const mark = (await peer.requests()).length;
      await invoke([second]);
      expect((await peer.requests()).slice(mark).some((r) => r.method === 'MOVE')).toBe(false);
      await invoke([first]);
      await drain();
      const sent = (await peer.requests()).slice(mark).filter((r) => r.method === 'PUT' || r.method === 'MOVE');
      expect(sent.map((r) => `${r.method} ${r.path}`)).toEqual([
        'PUT /user_homes/omega/b.txt',
        'MOVE /user_homes/alpha/a.txt',
      ]);
      const actual = await peer.tree();
      expect(actual.get('user_homes/omega/b.txt')).toBe(sha256(Buffer.from('alpha a')));
      expect(actual.has('user_homes/alpha/a.txt')).toBe(false);
    }, 60_000);
  },
);
