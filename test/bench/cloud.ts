// npm run bench:cloud [-- --files N --big-files M --loops L --batch B --groups G]
// Cloud mode against moto (S3 + SQS) and Apache. Two phases: N small files (default 400, 1–4 KiB) in ONE home
// folder, then M files of 10 MiB (default 20). Each file is uploaded the way a node does it (POST the change, PUT
// the body to the presigned URL, commit) through one relay — the API function — and replayed by another — the
// replay function, which starts with nothing in memory — through its own handler, fed by L receive loops
// (default 8; each stands for one running Lambda invocation, B messages per batch, default 10).
// An SDK middleware counts every S3 and SQS request; the API calls and the handler's batches are timed (what Lambda
// bills). Prints the drain rate, requests per change by operation, function milliseconds per 1,000 changes, and
// from aws-prices.ts what a million replicated changes cost, next to S3 Replication. Figures only; a peer tree
// that does not match throws.
//
// The receive loops poll without waiting and pause 50 ms when nothing is ready, not as `serve`'s poller does:
// moto's long poll spins on a FIFO queue whose visible messages all belong to groups in flight (it scans the queue
// again and again until the wait ends), taking the CPU the relay's own requests need. Lambda's pollers long-poll
// at no cost of the function's.
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { parseConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/logger.js';
import { type CloudRelay, createCloudRelay } from '../../src/runtime/cloud/relay.js';
import { type ApachePeer, peerConfig, startApache } from '../support/apache.js';
import { freshBucket, type Moto, motoS3Client, startMoto } from '../support/moto.js';
import { AWS_PRICES, FUNCTION_MEMORY_GB } from './aws-prices.js';
import { type CostPerMillion, costPerMillion } from './cloud-cost.js';
import { perChange, ReceiveLoops, RequestCounter, total } from './cloud-requests.js';
import { printTable, runPool, seeded } from './stats.js';

const { values } = parseArgs({
  options: {
    files: { type: 'string', default: '400' },
    'big-files': { type: 'string', default: '20' },
    loops: { type: 'string', default: '8' },
    batch: { type: 'string', default: '10' },
    groups: { type: 'string', default: '16' },
  },
});
const FILES = count('files', values.files, 1);
const BIG_FILES = count('big-files', values['big-files'], 0);
const LOOPS = count('loops', values.loops, 1);
const BATCH = count('batch', values.batch, 1);
const GROUPS = count('groups', values.groups, 1);

const ADMIN_TOKEN = 'bench-admin-token-0123456789';
const NODE_TOKEN = 'bench-node-token-0123456789';
const BIG_BYTES = 10 * 1024 * 1024;
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

function count(name: string, value: string | undefined, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer of at least ${min}, got ${value}`);
  return n;
}

interface Rig {
  api: CloudRelay;
  relay: CloudRelay;
  server: ApachePeer;
  queue: SQSClient;
  queueUrl: string;
  counter: RequestCounter;
}

interface PhaseResult {
  files: number;
  bytes: number;
  drainMs: number;
  ingest: Map<string, number>;
  drain: Map<string, number>;
  apiMs: number;
  handlerMs: number;
  batches: number;
  emptyReceives: number;
}

/** One upload as a node makes it: POST the change, PUT the body to the presigned URL, commit. API time returned. */
async function upload(api: CloudRelay, path: string, body: Buffer): Promise<number> {
  const headers = { authorization: `Bearer ${NODE_TOKEN}`, 'content-type': 'application/json' };
  const sha256 = createHash('sha256').update(body).digest('hex');
  let started = performance.now();
  const res = await api.app.request('/v1/changes', {
    method: 'POST',
    headers,
    body: JSON.stringify({ action: 'upload', path, size: body.length, sha256, user: 'john' }),
  });
  const answer = (await res.json()) as { id: string; upload: { url: string; headers: Record<string, string> } };
  let apiMs = performance.now() - started;
  if (res.status !== 201) throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(answer)}`);
  const { 'content-length': _length, ...putHeaders } = answer.upload.headers;
  const put = await fetch(answer.upload.url, { method: 'PUT', headers: putHeaders, body });
  if (put.status !== 200) throw new Error(`PUT ${path}: ${put.status} ${await put.text()}`);
  started = performance.now();
  const commit = await api.app.request(`/v1/changes/${answer.id}/commit`, { method: 'POST', headers });
  await commit.arrayBuffer();
  apiMs += performance.now() - started;
  if (commit.status !== 200) throw new Error(`commit ${path}: ${commit.status}`);
  return apiMs;
}

async function filesIn(server: ApachePeer, folder: string): Promise<number> {
  try {
    return (await readdir(join(server.root, folder))).length;
  } catch {
    return 0;
  }
}

async function journalEmpty(relay: CloudRelay): Promise<boolean> {
  for (const lane of await relay.store.lanes())
    if ((await relay.store.list(lane, { limit: 1 })).length > 0) return false;
  return true;
}

/** Uploads `files` into `folder` with nothing replaying, then drains them; counts and times both. */
async function phase(rig: Rig, folder: string, files: { path: string; body: Buffer }[]): Promise<PhaseResult> {
  let apiMs = 0;
  await runPool(files, 8, async (f) => {
    apiMs += await upload(rig.api, f.path, f.body);
  });
  const ingest = rig.counter.take();

  const loops = new ReceiveLoops(rig.queue, rig.queueUrl, rig.relay.replayHandler, LOOPS, BATCH, rig.counter);
  const started = performance.now();
  loops.start();
  try {
    const deadline = Date.now() + Math.max(600_000, files.length * 5000);
    while ((await filesIn(rig.server, folder)) < files.length) {
      if (Date.now() > deadline)
        throw new Error(`the peer has ${await filesIn(rig.server, folder)} of ${files.length}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const drainMs = performance.now() - started;
    // The last batches finish (purges, message deletes) before the counts are taken.
    while (!(await journalEmpty(rig.relay))) await new Promise((resolve) => setTimeout(resolve, 100));
    await loops.stop();
    const tree = await rig.server.tree();
    for (const f of files) {
      if (tree.get(f.path.slice(1)) !== createHash('sha256').update(f.body).digest('hex')) {
        throw new Error(`${f.path} on the peer does not match`);
      }
    }
    return {
      files: files.length,
      bytes: files.reduce((sum, f) => sum + f.body.length, 0),
      drainMs,
      ingest,
      drain: rig.counter.take(),
      apiMs,
      handlerMs: loops.handlerMs,
      batches: loops.batches,
      emptyReceives: loops.emptyReceives,
    };
  } finally {
    await loops.stop();
  }
}

function phaseRows(name: string, r: PhaseResult): [string, string][] {
  const n = r.files;
  const per = (m: Map<string, number>, service?: string) => (total(m, service) / n).toFixed(2);
  return [
    [name, `${n} files, ${(r.bytes / n / 1024).toFixed(1)} KiB on average`],
    [
      'drain',
      `${((n * 1000) / r.drainMs).toFixed(1)} files/s (${(r.drainMs / 1000).toFixed(1)} s, ${LOOPS} loops, ${GROUPS} groups per lane)`,
    ],
    [
      'ingest requests',
      `${per(r.ingest)} per change (S3 ${per(r.ingest, 'S3')}, SQS ${per(r.ingest, 'SQS')}), plus the node's PUT to the presigned URL`,
    ],
    ...perChange(r.ingest, n),
    ['replay requests', `${per(r.drain)} per change (S3 ${per(r.drain, 'S3')}, SQS ${per(r.drain, 'SQS')})`],
    ...perChange(r.drain, n),
    ['  (not counted)', `${r.emptyReceives} receives that found nothing ready (the loops poll every 50 ms when idle)`],
    ['api function', `${Math.round((r.apiMs * 1000) / n)} ms per 1,000 changes (POST and commit)`],
    [
      'replay function',
      `${Math.round((r.handlerMs * 1000) / n)} ms per 1,000 changes (${r.batches} batches, ${(n / r.batches).toFixed(1)} changes each)`,
    ],
  ];
}

function cost(r: PhaseResult): CostPerMillion {
  const requests = new Map<string, number>();
  for (const m of [r.ingest, r.drain]) {
    for (const [name, c] of m) requests.set(name, (requests.get(name) ?? 0) + c / r.files);
  }
  return costPerMillion({
    requests,
    nodePuts: 1,
    apiRequests: 2,
    apiMs: r.apiMs / r.files,
    replayMs: r.handlerMs / r.files,
    replayInvocations: r.batches / r.files,
    bytes: r.bytes / r.files,
  });
}

function costRows(phases: [string, PhaseResult][]): [string, string][] {
  const costs = phases.map(([name, r]) => [name, cost(r)] as const);
  const row = (label: string, pick: (c: CostPerMillion) => number): [string, string] => [
    label,
    costs.map(([name, c]) => `${name} $${pick(c).toFixed(2)}`).join('   '),
  ];
  return [
    [
      'cost per 1M changes',
      `${AWS_PRICES.region} list prices recorded ${AWS_PRICES.recorded} (test/bench/aws-prices.ts); functions arm64, API ${FUNCTION_MEMORY_GB.api * 1024} MB, replay ${FUNCTION_MEMORY_GB.replay * 1024} MB`,
    ],
    row('  S3 requests', (c) => c.s3),
    row('  SQS FIFO', (c) => c.sqs),
    row('  Lambda', (c) => c.lambda),
    row('  API Gateway', (c) => c.apiGateway),
    row('  relay total', (c) => c.relay),
    row('  + to a peer on the internet', (c) => c.internetOut),
    row('S3 Replication, same region', (c) => c.s3ReplicationSameRegion),
    row('S3 Replication, cross-region', (c) => c.s3ReplicationCrossRegion),
  ];
}

async function main(): Promise<void> {
  let moto: Moto | undefined;
  let server: ApachePeer | undefined;
  let api: CloudRelay | undefined;
  let relay: CloudRelay | undefined;
  let queue: SQSClient | undefined;
  try {
    [moto, server] = await Promise.all([startMoto(), startApache()]);
    const s3 = motoS3Client(moto.endpoint);
    queue = new SQSClient({ region: 'us-east-1', endpoint: moto.endpoint, credentials });
    const bucket = await freshBucket(s3, 'bench-cloud');
    const created = await queue.send(
      new CreateQueueCommand({
        QueueName: `relay-${randomBytes(4).toString('hex')}.fifo`,
        Attributes: { FifoQueue: 'true', VisibilityTimeout: '60' },
      }),
    );
    const config = parseConfig(
      {
        listen: { host: '127.0.0.1', port: 0 },
        journal: `s3://${bucket}/relay`,
        queue: created.QueueUrl,
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
    api = createCloudRelay(config, options);
    relay = createCloudRelay(config, options);
    const counter = new RequestCounter();
    for (const r of [api, relay]) {
      r.store.client.middlewareStack.add(counter.middleware('S3'), { step: 'deserialize', name: 'benchCounter' });
      r.sqs.middlewareStack.add(counter.middleware('SQS'), { step: 'deserialize', name: 'benchCounter' });
    }
    const rig: Rig = { api, relay, server, queue, queueUrl: config.queue!, counter };

    const random = seeded(14);
    const small = Array.from({ length: FILES }, (_, i) => ({
      path: `/user_homes/john/f${String(i).padStart(5, '0')}.bin`,
      body: randomBytes(1024 + Math.floor(random() * 3 * 1024)),
    }));
    const phases: [string, PhaseResult][] = [['small', await phase(rig, '/user_homes/john', small)]];
    if (BIG_FILES > 0) {
      const big = Array.from({ length: BIG_FILES }, (_, i) => ({
        path: `/user_homes/mary/big${String(i).padStart(3, '0')}.bin`,
        body: randomBytes(BIG_BYTES),
      }));
      phases.push(['10 MiB', await phase(rig, '/user_homes/mary', big)]);
    }

    // What moto itself answers on this machine, in the same run: the drain cannot beat it / requests per change.
    const probeStarted = performance.now();
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'bench-probe', Body: 'x' }));
    await runPool(
      Array.from({ length: 400 }, () => 0),
      16,
      async () => void (await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'bench-probe' }))),
    );
    const motoRate = (401 * 1000) / (performance.now() - probeStarted);
    s3.destroy();

    const perReplay = total(phases[0]![1].drain) / FILES;
    printTable([
      ...phases.flatMap(([name, r]) => phaseRows(name, r)),
      [
        'moto baseline',
        `${motoRate.toFixed(0)} HEAD requests/s (16 in flight): at ${perReplay.toFixed(2)} replay requests per small change, at most ${(motoRate / perReplay).toFixed(1)} files/s`,
      ],
      ...costRows(phases),
    ]);
  } finally {
    await relay?.close();
    await api?.close();
    queue?.destroy();
    await server?.close();
    await moto?.close();
  }
}

await main();
