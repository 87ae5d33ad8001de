// npm run bench:cloud [-- --files N --loops L --batch B --groups G]
// Cloud mode against moto (S3 + SQS) and Apache: N small files (default 400, 1–4 KiB) uploaded into ONE home folder
// the way a node does it (POST the change, PUT the body to the presigned URL, commit), then replayed by the replay
// Lambda's own handler fed by L receive loops (default 8; each loop stands for one concurrently running Lambda
// invocation, B messages per batch, default 10). An SDK middleware counts every S3 and SQS request the relay makes;
// the handler's time per batch is what Lambda would bill. Prints files/s of the drain, requests per change by
// operation, and handler milliseconds per 1,000 changes. Figures only; a peer tree that does not match throws.
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateQueueCommand, DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { toSqsRecord } from '../../src/adapters/sqs-doorbell/poller.js';
import { parseQueueUrl } from '../../src/adapters/sqs-doorbell/queue.js';
import type { SqsReplayHandler } from '../../src/adapters/sqs-doorbell/replay-handler.js';
import { parseConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/logger.js';
import { type CloudRelay, createCloudRelay } from '../../src/runtime/cloud/relay.js';
import { type ApachePeer, peerConfig, startApache } from '../support/apache.js';
import { freshBucket, type Moto, motoS3Client, startMoto } from '../support/moto.js';
import { printTable, runPool, seeded } from './stats.js';

const { values } = parseArgs({
  options: {
    files: { type: 'string', default: '400' },
    loops: { type: 'string', default: '8' },
    batch: { type: 'string', default: '10' },
    groups: { type: 'string', default: '16' },
  },
});
const FILES = positiveInt('files', values.files);
const LOOPS = positiveInt('loops', values.loops);
const BATCH = positiveInt('batch', values.batch);
const GROUPS = positiveInt('groups', values.groups);

const ADMIN_TOKEN = 'bench-admin-token-0123456789';
const NODE_TOKEN = 'bench-node-token-0123456789';
const FOLDER = '/user_homes/john';
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

function positiveInt(name: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${value}`);
  return n;
}

/** Counts every request a client sends (each HTTP attempt: the deserialize step runs inside the retry loop). */
class RequestCounter {
  readonly counts = new Map<string, number>();
  /** Milliseconds spent waiting for the answers, per operation (BENCH_TRACE=1 prints them). */
  readonly waited = new Map<string, number>();

  /** A deserialize-step middleware (inside the retry loop: every HTTP attempt counts, a presign none). */
  middleware(service: string) {
    return <I, O>(next: (args: I) => Promise<O>, context: { commandName?: string }) =>
      async (args: I): Promise<O> => {
        const op = `${service} ${context.commandName?.replace(/Command$/, '')}`;
        const key = (args as { input?: { Key?: string } }).input?.Key;
        const name = process.env.BENCH_TRACE && key ? `${op} …/${key.split('/').slice(-1)[0]!.slice(0, 12)}` : op;
        this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
        const started = performance.now();
        try {
          return await next(args);
        } finally {
          this.waited.set(name, (this.waited.get(name) ?? 0) + performance.now() - started);
        }
      };
  }

  add(name: string): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
  }

  take(): Map<string, number> {
    const out = new Map(this.counts);
    if (process.env.BENCH_TRACE) {
      for (const [name, n] of out) {
        process.stderr.write(`${name}: ${n} requests, ${((this.waited.get(name) ?? 0) / n).toFixed(1)} ms each\n`);
      }
    }
    this.counts.clear();
    this.waited.clear();
    return out;
  }
}

/** `loops` receive loops handing batches to the replay handler; receives and deletes counted into `counter`. */
class ReceiveLoops {
  emptyReceives = 0;
  private stopped = false;
  private running: Promise<void>[] = [];

  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
    private readonly handler: SqsReplayHandler,
    private readonly loops: number,
    private readonly batchSize: number,
    private readonly counter: RequestCounter,
  ) {}

  start(): void {
    this.running = Array.from({ length: this.loops }, () => this.loop());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.running);
  }

  private async loop(): Promise<void> {
    const address = parseQueueUrl(this.queueUrl, 'us-east-1');
    while (!this.stopped) {
      const { Messages: messages = [] } = await this.client.send(
        new ReceiveMessageCommand({
          QueueUrl: this.queueUrl,
          MaxNumberOfMessages: this.batchSize,
          WaitTimeSeconds: 0,
          MessageSystemAttributeNames: ['All'],
        }),
      );
      if (messages.length === 0) {
        this.emptyReceives++;
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      this.counter.add('SQS ReceiveMessage');
      const response = await this.handler({ Records: messages.map((m) => toSqsRecord(m, address)) });
      const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
      const done = messages.filter((m) => !failed.has(m.MessageId!));
      if (done.length === 0) continue;
      this.counter.add('SQS DeleteMessageBatch');
      await this.client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: this.queueUrl,
          Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
        }),
      );
    }
  }
}

function total(counts: Map<string, number>, service?: string): number {
  let sum = 0;
  for (const [name, n] of counts) if (!service || name.startsWith(`${service} `)) sum += n;
  return sum;
}

function perChange(counts: Map<string, number>, changes: number): [string, string][] {
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([name, n]) => [`  ${name}`, `${(n / changes).toFixed(2)} per change (${n})`]);
}

/** One upload as a node makes it: POST the change, PUT the body to the presigned URL, commit. */
async function upload(relay: CloudRelay, path: string, body: Buffer): Promise<void> {
  const headers = { authorization: `Bearer ${NODE_TOKEN}`, 'content-type': 'application/json' };
  const sha256 = createHash('sha256').update(body).digest('hex');
  const res = await relay.app.request('/v1/changes', {
    method: 'POST',
    headers,
    body: JSON.stringify({ action: 'upload', path, size: body.length, sha256, user: 'john' }),
  });
  const answer = (await res.json()) as { id: string; upload: { url: string; headers: Record<string, string> } };
  if (res.status !== 201) throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(answer)}`);
  const { 'content-length': _length, ...putHeaders } = answer.upload.headers;
  const put = await fetch(answer.upload.url, { method: 'PUT', headers: putHeaders, body });
  if (put.status !== 200) throw new Error(`PUT ${path}: ${put.status} ${await put.text()}`);
  const commit = await relay.app.request(`/v1/changes/${answer.id}/commit`, { method: 'POST', headers });
  if (commit.status !== 200) throw new Error(`commit ${path}: ${commit.status} ${await commit.text()}`);
}

async function filesOnPeer(server: ApachePeer): Promise<number> {
  try {
    return (await readdir(join(server.root, FOLDER))).length;
  } catch {
    return 0;
  }
}

async function journalEmpty(relay: CloudRelay): Promise<boolean> {
  for (const lane of await relay.store.lanes())
    if ((await relay.store.list(lane, { limit: 1 })).length > 0) return false;
  return true;
}

async function main(): Promise<void> {
  let moto: Moto | undefined;
  let server: ApachePeer | undefined;
  let api: CloudRelay | undefined;
  let relay: CloudRelay | undefined;
  let poller: ReceiveLoops | undefined;
  let queueClient: SQSClient | undefined;
  try {
    [moto, server] = await Promise.all([startMoto(), startApache()]);
    const s3 = motoS3Client(moto.endpoint);
    const sqs = new SQSClient({ region: 'us-east-1', endpoint: moto.endpoint, credentials });
    queueClient = sqs;
    const bucket = await freshBucket(s3, 'bench-cloud');
    const queue = await sqs.send(
      new CreateQueueCommand({
        QueueName: `relay-${randomBytes(4).toString('hex')}.fifo`,
        Attributes: { FifoQueue: 'true', VisibilityTimeout: '60' },
      }),
    );
    s3.destroy();
    const config = parseConfig(
      {
        listen: { host: '127.0.0.1', port: 0 },
        journal: `s3://${bucket}/relay`,
        queue: queue.QueueUrl,
        peers: [{ ...peerConfig(server, 'server2'), pingIntervalSeconds: 60, setModifiedTime: false }],
        vfs: [{ path: '/user_homes', replicate: true }],
        auth: { adminToken: ADMIN_TOKEN, nodeTokens: { 'node-a': NODE_TOKEN } },
        cloud: { groupsPerLane: GROUPS },
      },
      {},
      'bench',
    );
    const options = {
      logger: silentLogger,
      s3: { endpoint: moto.endpoint, region: 'us-east-1', forcePathStyle: true, credentials },
      sqs: { endpoint: moto.endpoint, region: 'us-east-1', credentials },
    };
    // Two relays, as the API and the replay function are two processes: the replay side starts with nothing of
    // the journal in memory.
    api = createCloudRelay(config, options);
    relay = createCloudRelay(config, options);
    const counter = new RequestCounter();
    for (const r of [api, relay]) {
      r.store.client.middlewareStack.add(counter.middleware('S3'), { step: 'deserialize', name: 'benchCounter' });
      r.sqs.middlewareStack.add(counter.middleware('SQS'), { step: 'deserialize', name: 'benchCounter' });
    }

    // Ingest: nothing replays yet (no receive loop), so the drain below starts with the whole backlog queued.
    const random = seeded(14);
    const files = Array.from({ length: FILES }, (_, i) => {
      const body = randomBytes(1024 + Math.floor(random() * 3 * 1024));
      return { path: `${FOLDER}/f${String(i).padStart(5, '0')}.bin`, body };
    });
    const ingestStarted = performance.now();
    await runPool(files, 8, (f) => upload(api!, f.path, f.body));
    const ingestMs = performance.now() - ingestStarted;
    const ingest = counter.take();

    // Drain: the replay Lambda's handler, timed per batch (one batch = one invocation).
    let handlerMs = 0;
    let batches = 0;
    const timed: SqsReplayHandler = async (event, context) => {
      const started = performance.now();
      try {
        return await relay!.replayHandler(event, context);
      } finally {
        handlerMs += performance.now() - started;
        batches++;
      }
    };
    // Receive loops that stand for concurrent Lambda invocations. Not the SqsReplayPoller of `serve`: moto's long
    // poll spins on a FIFO queue whose visible messages all belong to groups in flight (it scans the queue again
    // and again until the wait ends), taking the CPU that the relay's own requests need. These loops poll without
    // waiting and pause when a receive comes back empty, as Lambda's pollers do (at no cost of the function's).
    poller = new ReceiveLoops(queueClient, config.queue!, timed, LOOPS, BATCH, counter);
    const drainStarted = performance.now();
    poller.start();
    const deadline = Date.now() + Math.max(600_000, FILES * 5000);
    while ((await filesOnPeer(server)) < FILES) {
      if (Date.now() > deadline) throw new Error(`the peer has ${await filesOnPeer(server)} of ${FILES} files`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const drainMs = performance.now() - drainStarted;
    // Let the last batches finish (purge, message deletes) before counting.
    while (!(await journalEmpty(relay))) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await poller.stop();
    const emptyReceives = poller.emptyReceives;
    poller = undefined;
    const drain = counter.take();

    // What moto itself answers on this machine, in the same run: the drain cannot beat it / requests per change.
    const probeClient = motoS3Client(moto.endpoint);
    const probeKey = 'bench-probe';
    await probeClient.send(new PutObjectCommand({ Bucket: bucket, Key: probeKey, Body: 'x' }));
    const probeStarted = performance.now();
    await runPool(
      Array.from({ length: 400 }, () => 0),
      16,
      async () => void (await probeClient.send(new HeadObjectCommand({ Bucket: bucket, Key: probeKey }))),
    );
    const motoRate = (400 * 1000) / (performance.now() - probeStarted);
    probeClient.destroy();

    const tree = await server.tree();
    for (const f of files) {
      const want = createHash('sha256').update(f.body).digest('hex');
      if (tree.get(f.path.slice(1)) !== want) throw new Error(`${f.path} on the peer does not match`);
    }

    printTable([
      ['files', `${FILES} of 1–4 KiB in one folder (${FOLDER})`],
      ['ingest', `${((FILES * 1000) / ingestMs).toFixed(1)} files/s (8 in flight, POST + presigned PUT + commit)`],
      [
        'drain',
        `${((FILES * 1000) / drainMs).toFixed(1)} files/s (${(drainMs / 1000).toFixed(1)} s, ${LOOPS} loops, ${GROUPS} groups per lane)`,
      ],
      [
        'ingest requests',
        `${(total(ingest) / FILES).toFixed(2)} per change (S3 ${(total(ingest, 'S3') / FILES).toFixed(2)}, SQS ${(total(ingest, 'SQS') / FILES).toFixed(2)}; the node's PUT to the presigned URL not included)`,
      ],
      ...perChange(ingest, FILES),
      [
        'replay requests',
        `${(total(drain) / FILES).toFixed(2)} per change (S3 ${(total(drain, 'S3') / FILES).toFixed(2)}, SQS ${(total(drain, 'SQS') / FILES).toFixed(2)})`,
      ],
      ...perChange(drain, FILES),
      ['  (not counted)', `${emptyReceives} receives that found nothing ready (the loops poll every 50 ms when idle)`],
      [
        'moto baseline',
        `${motoRate.toFixed(0)} HEAD requests/s (16 in flight): at ${(total(drain) / FILES).toFixed(2)} requests per change, at most ${(motoRate / (total(drain) / FILES)).toFixed(1)} files/s`,
      ],
      [
        'replay handler',
        `${Math.round((handlerMs * 1000) / FILES)} ms per 1,000 changes (${batches} batches, ${(FILES / batches).toFixed(1)} changes each)`,
      ],
    ]);
  } finally {
    await poller?.stop();
    queueClient?.destroy();
    await relay?.close();
    await api?.close();
    await server?.close();
    await moto?.close();
  }
}

await main();
