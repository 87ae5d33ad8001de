import { createHash, randomBytes } from 'node:crypto';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { LogFields, Logger } from '../../src/core/logger.js';
import { startCloudServe } from '../../src/runtime/cloud/serve.js';
import { type ApachePeer, apacheAvailable, peerConfig, startApache } from '../support/apache.js';
import { HoldingProxy } from '../support/holding-proxy.js';
import { freshBucket, type Moto, motoAvailable, motoS3Client, startMoto } from '../support/moto.js';
import { waitFor } from '../support/node-client.js';
import { ADMIN_TOKEN, auth, jsonHeaders, NODE_A_TOKEN } from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';

// `vfs-relay serve` in cloud mode shutting down while a replay is in flight. After the poller's grace it closed the
// peers under the replay, whose request then failed as if the peer were down: the peer's shared state in S3 said
// OFFLINE for every process, the change got a failed attempt, and the message's heartbeat kept it in flight (found
// by a review). The replays still running are now aborted, recording nothing, and their messages go back.

const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
const clients = (endpoint: string) => ({
  s3: { endpoint, region: 'us-east-1', forcePathStyle: true, credentials },
  sqs: { endpoint, region: 'us-east-1', credentials },
});
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

function recordingLogger(lines: string[]): Logger {
  const record = (level: string) => (message: string, fields?: LogFields) => {
    lines.push(`${level} ${message} ${JSON.stringify(fields ?? {}, (_k, v) => (v instanceof Error ? String(v) : v))}`);
  };
  return { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') };
}

describeWithServer('moto_server and Apache httpd', motoAvailable && apacheAvailable, 'cloud serve shutdown', () => {
  it('aborts a replay in flight past the grace: the peer stays ONLINE, nothing is recorded, the change arrives later', async () => {
    const proxy = new HoldingProxy(apache.port);
    await proxy.start();
    cleanups.push(() => proxy.close());
    const bucket = await freshBucket(s3);
    const queue = await sqs.send(
      new CreateQueueCommand({
        QueueName: `relay-${randomBytes(4).toString('hex')}.fifo`,
        Attributes: { FifoQueue: 'true', VisibilityTimeout: '30' },
      }),
    );
    const config = (url: string) =>
      parseConfig(
        {
          listen: { host: '127.0.0.1', port: 0 },
          journal: `s3://${bucket}/relay`,
          queue: queue.QueueUrl,
          peers: [{ ...peerConfig(apache, 'server2'), url, pingIntervalSeconds: 3600 }],
          vfs: [{ path: '/user_homes', replicate: true }],
          auth: { adminToken: ADMIN_TOKEN, nodeTokens: { 'node-a': NODE_A_TOKEN } },
        },
        {},
        'test',
      );
    const lines: string[] = [];
    const first = await startCloudServe(config(proxy.url), {
      ...clients(moto.endpoint),
      logger: recordingLogger(lines),
      poller: { waitTimeSeconds: 1, graceMs: 200 },
    });
    let closed = false;
    cleanups.push(async () => {
      if (!closed) await first.close();
    });

    // The replay's first request to the peer is held at the proxy: a slow peer.
    const held = proxy.hold((r) => r.method === 'MKCOL');
    cleanups.push(async () => held.release());
    const body = Buffer.from('hello');
    const created = await fetch(`${first.url}/v1/changes`, {
      method: 'POST',
      headers: jsonHeaders(NODE_A_TOKEN),
      body: JSON.stringify({
        action: 'upload',
        path: '/user_homes/shutdown/a.txt',
        size: body.length,
        sha256: createHash('sha256').update(body).digest('hex'),
      }),
    });
    const answer = (await created.json()) as { id: string; upload: { url: string; headers: Record<string, string> } };
    const { 'content-length': _length, ...headers } = answer.upload.headers;
    expect((await fetch(answer.upload.url, { method: 'PUT', headers, body })).status).toBe(200);
    const commit = await fetch(`${first.url}/v1/changes/${answer.id}/commit`, {
      method: 'POST',
      headers: auth(NODE_A_TOKEN),
    });
    expect(commit.status).toBe(200);
    await held.arrived;

    // SIGTERM: close(). The peer answers the held request only once the peers are being closed, as a slow one would.
    const relay = first.relay;
    const closeRelay = relay.close.bind(relay);
    relay.close = async () => {
      const closing = closeRelay();
      held.release();
      await closing;
    };
    await first.close();
    closed = true;
    // However the replay ended (before: after close() returned, failing against the closed peer).
    await waitFor(
      async () =>
        lines.some((l) => /replay stopped by the shutdown|replay did not apply|replayed |replay failed/.test(l)),
      30_000,
      () => lines.join('\n'),
    );

    const state = await s3
      .send(new GetObjectCommand({ Bucket: bucket, Key: 'relay/peers/server2.json' }))
      .then((o) => o.Body!.transformToString())
      .catch(() => '{}');
    expect((JSON.parse(state) as { status?: string }).status ?? 'ONLINE').toBe('ONLINE');
    expect(lines.filter((l) => /replay did not apply|replayed /.test(l))).toEqual([]);
    expect(lines.some((l) => l.includes('replay stopped by the shutdown'))).toBe(true);

    // Nothing lost: the next process replays the change.
    const next = await startCloudServe(config(apache.url), {
      ...clients(moto.endpoint),
      logger: recordingLogger([]),
      poller: { waitTimeSeconds: 1 },
    });
    cleanups.push(() => next.close());
    await waitFor(async () => (await apache.tree()).has('user_homes/shutdown/a.txt'), 30_000);
    const shown = await fetch(`${next.url}/v1/changes?limit=10`, { headers: auth(ADMIN_TOKEN) });
    expect(((await shown.json()) as { items: unknown[] }).items).toEqual([]);
  }, 90_000);
});
