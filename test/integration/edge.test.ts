import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/logger.js';
import { startCloudServe } from '../../src/runtime/cloud/serve.js';
import { type ApachePeer, apacheAvailable, peerConfig, startApache } from '../support/apache.js';
import { freshBucket, type Moto, motoAvailable, motoS3Client, startMoto } from '../support/moto.js';
import { waitFor } from '../support/node-client.js';
import { ADMIN_TOKEN, auth, NODE_A_TOKEN } from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';

/**
 * The edge bundle (npm run build:edge → dist/edge/edge.js), imported as is and called through its
 * `export default { fetch }`, on moto's S3 and SQS; then `vfs-relay serve` in cloud mode replays what it journaled
 * to a real Apache. The same bundle runs on Node (called directly), in workerd (Miniflare), on Bun and on Deno (each
 * serving it with its own HTTP server): one folder per runtime, all replayed by one `serve`.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

type EdgeModule = { default: { fetch(request: Request, env: Record<string, unknown>): Promise<Response> } };

let moto: Moto;
let s3: S3Client;
let sqs: SQSClient;
let peer: ApachePeer;
let edge: EdgeModule['default'];
let env: Record<string, unknown>;
let config: Record<string, unknown>;

beforeAll(async () => {
  if (!motoAvailable || !apacheAvailable) return;
  execFileSync(process.execPath, ['--import', 'tsx', 'scripts/build-edge.ts'], { cwd: ROOT, stdio: 'pipe' });
  [moto, peer] = await Promise.all([startMoto(), startApache()]);
  s3 = motoS3Client(moto.endpoint);
  sqs = new SQSClient({ region: 'us-east-1', endpoint: moto.endpoint, credentials });
  const bucket = await freshBucket(s3);
  const queue = await sqs.send(
    new CreateQueueCommand({
      QueueName: `edge-${randomBytes(4).toString('hex')}.fifo`,
      Attributes: { FifoQueue: 'true', VisibilityTimeout: '30' },
    }),
  );
  config = {
    journal: `s3://${bucket}/relay`,
    queue: queue.QueueUrl,
    peers: [peerConfig(peer, 'server2')],
    vfs: [{ path: '/user_homes', replicate: true }],
    // One delete per hour: the second is HELD (the guard's windows are in S3, as in cloud mode).
    deleteGuard: { maxDeletes: 1, windowSeconds: 3600 },
    auth: { adminToken: { env: 'ADMIN_TOKEN' }, nodeTokens: { 'node-a': { env: 'NODE_A_TOKEN' } } },
  };
  env = {
    VFS_RELAY_CONFIG_JSON: JSON.stringify(config),
    ADMIN_TOKEN,
    NODE_A_TOKEN,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_ENDPOINT_URL: moto.endpoint,
  };
  const bundle = pathToFileURL(`${ROOT}dist/edge/edge.js`).href;
  edge = ((await import(bundle)) as EdgeModule).default;
}, 120_000);

afterAll(async () => {
  s3?.destroy();
  sqs?.destroy();
  await peer?.close();
  await moto?.close();
});

type Call = (path: string, init?: RequestInit) => Promise<Response>;

/** On Node: the bundle's fetch, called directly. */
const onNode: Call = (path, init = {}) => edge.fetch(new Request(`https://relay.example${path}`, init), env);

/** In workerd, through Miniflare (absent on a laptop: that part skips loudly; under CI=true it fails). */
async function inWorkerd(): Promise<{ call: Call; close: () => Promise<void> } | undefined> {
  let Miniflare: typeof import('miniflare').Miniflare;
  try {
    ({ Miniflare } = await import('miniflare'));
  } catch (error) {
    if (process.env.CI === 'true') throw error;
    console.warn(`\n*** SKIPPING the workerd run: miniflare is not installed (${(error as Error).message}) ***\n`);
    return undefined;
  }
  const mf = new Miniflare({
    modules: true,
    scriptPath: `${ROOT}dist/edge/edge.js`,
    compatibilityDate: '2026-04-01',
    // No nodejs_compat: the bundle needs nothing of Node (the SDK's browser build, Web Crypto, fetch).
    bindings: env as Record<string, string>,
  });
  return {
    call: async (path, init = {}) => (await mf.dispatchFetch(`https://relay.example${path}`, init as never)) as never,
    close: () => mf.dispose(),
  };
}

/**
 * The bundle on Bun or Deno, served by the runtime's own HTTP server (test/support/edge-host.mjs). The runtime is
 * looked for on PATH, then in `.tools/` (`npm run setup:edge-runtimes`, which `.ci/run` runs). Absent on a laptop:
 * that part skips loudly; under CI=true it fails.
 */
async function onRuntime(name: 'bun' | 'deno'): Promise<{ call: Call; close: () => Promise<void> } | undefined> {
  const binary = [
    ...(process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, name)),
    join(ROOT, '.tools', 'node_modules', '.bin', name),
  ].find((candidate) => existsSync(candidate));
  if (!binary) {
    const message = `${name} is not installed (npm run setup:edge-runtimes)`;
    if (process.env.CI === 'true') throw new Error(message);
    console.warn(`\n*** SKIPPING the ${name} run: ${message} ***\n`);
    return undefined;
  }
  const bundle = join(ROOT, 'dist', 'edge', 'edge.js');
  const host = fileURLToPath(new URL('../support/edge-host.mjs', import.meta.url));
  const args =
    name === 'deno'
      ? ['run', '--allow-net=127.0.0.1', '--allow-env=EDGE_ENV_JSON', `--allow-read=${bundle}`, host, bundle]
      : [host, bundle];
  const child = spawn(binary, args, {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/', EDGE_ENV_JSON: JSON.stringify(env) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 60 s:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const ready = /READY (\d+)/.exec(output);
      if (ready) {
        clearTimeout(timer);
        resolve(Number(ready[1]));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${name} exited during start-up:\n${output}`));
    });
  });
  return {
    call: (path, init = {}) => fetch(`http://127.0.0.1:${port}${path}`, init),
    close: async () => {
      child.stdin!.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A makedir and an upload (presigned PUT + commit) through the edge API; returns the body's SHA-256. */
async function journalThroughEdge(call: Call, folder: string): Promise<string> {
  // Prepare: nothing but the bundle and its bindings.
  expect((await call('/healthz')).status).toBe(200);

  // Auth: no token, a wrong token, a node token on an operator endpoint.
  expect((await call('/v1/peers')).status).toBe(401);
  expect((await call('/v1/peers', { headers: auth('not-a-token-0123456789') })).status).toBe(401);
  expect((await call('/v1/peers', { headers: auth(NODE_A_TOKEN) })).status).toBe(403);

  // Act: a makedir, and an upload through a presigned PUT + commit.
  const json = { ...auth(NODE_A_TOKEN), 'content-type': 'application/json' };
  const dir = await call('/v1/changes', {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ action: 'makedir', path: `/user_homes/${folder}` }),
  });
  expect(dir.status).toBe(202);
  // Requests at once share the relay an isolate built: each is answered, and so is the next one after them.
  const makedir = (name: string) =>
    call('/v1/changes', {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ action: 'makedir', path: `/user_homes/${folder}/${name}` }),
    }).then((res) => res.status);
  expect(await Promise.all(['c1', 'c2', 'c3', 'c4', 'c5', 'c6'].map(makedir))).toEqual([202, 202, 202, 202, 202, 202]);
  expect(await makedir('c7')).toBe(202);
  const body = randomBytes(100_000);
  const sha256 = createHash('sha256').update(body).digest('hex');
  // Bodies never pass through the edge: no one-request upload (it took the body whole into the isolate's memory,
  // found by a review). 404, on which the agent remembers to use the presigned flow below.
  // No body sent: answered before it is read, a body still being written would be cut off (ECONNRESET).
  const inOne = await call(`/v1/uploads?path=/user_homes/${folder}/one.bin&size=${body.length}&sha256=${sha256}`, {
    method: 'POST',
    headers: { ...auth(NODE_A_TOKEN), 'content-type': 'application/octet-stream' },
  });
  expect(inOne.status).toBe(404);
  const created = await call('/v1/changes', {
    method: 'POST',
    headers: json,
    body: JSON.stringify({ action: 'upload', path: `/user_homes/${folder}/a.bin`, size: body.length, sha256 }),
  });
  expect(created.status).toBe(201);
  const { id, upload } = (await created.json()) as {
    id: string;
    upload: { url: string; headers: Record<string, string> };
  };
  expect(upload.url.startsWith(moto.endpoint)).toBe(true);
  const { 'content-length': _length, ...headers } = upload.headers;
  const put = await fetch(upload.url, { method: 'PUT', headers, body });
  expect(put.status).toBe(200);
  const commit = await call(`/v1/changes/${id}/commit`, { method: 'POST', headers: auth(NODE_A_TOKEN) });
  expect(commit.status).toBe(200);

  // Assess: operator endpoints see the change, PENDING for the peer.
  const peers = await call('/v1/peers', { headers: auth(ADMIN_TOKEN) });
  expect(peers.status).toBe(200);
  const [server2] = (await peers.json()) as { name: string; pending: number }[];
  expect(server2!.name).toBe('server2');
  expect(server2!.pending).toBeGreaterThanOrEqual(2);
  expect((await call(`/v1/changes/${id}`, { headers: auth(ADMIN_TOKEN) })).status).toBe(200);

  // The delete guard: the node's second delete is HELD; discarding it re-arms the node (in S3) for the next run.
  const deletes = [];
  for (const name of ['gone-1', 'gone-2']) {
    const res = await call('/v1/changes', {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ action: 'delete', path: `/user_homes/${folder}/${name}` }),
    });
    deletes.push(((await res.json()) as { status: string }).status);
  }
  expect(deletes).toEqual(['PENDING', 'HELD']);
  const discard = await call('/v1/holds/discard?node=node-a', { method: 'POST', headers: auth(ADMIN_TOKEN) });
  expect(await discard.json()).toEqual({ discarded: 1 });
  return sha256;
}

describeWithServer('moto_server and Apache httpd', motoAvailable && apacheAvailable, 'the edge bundle', () => {
  it('serves the API from S3 + SQS on Node, workerd, Bun and Deno; serve in cloud mode replays what it journaled', async () => {
    const journaled = new Map([['node', await journalThroughEdge(onNode, 'node')]]);
    for (const [runtime, start] of [
      ['workerd', inWorkerd],
      ['bun', () => onRuntime('bun')],
      ['deno', () => onRuntime('deno')],
    ] as const) {
      const host = await start();
      if (!host) continue;
      try {
        journaled.set(runtime, await journalThroughEdge(host.call, runtime));
      } finally {
        await host.close();
      }
    }

    // Under CI every runtime must have run (a missing one fails above); on a laptop, the missing ones were named.
    if (process.env.CI === 'true') expect([...journaled.keys()]).toEqual(['node', 'workerd', 'bun', 'deno']);

    // Replay: vfs-relay serve in cloud mode, on the same bucket and queue, brings them to Apache.
    const relay = await startCloudServe(
      parseConfig({ ...config, listen: { host: '127.0.0.1', port: 0 } }, env as NodeJS.ProcessEnv, 'test'),
      {
        logger: silentLogger,
        s3: { endpoint: moto.endpoint, region: 'us-east-1', forcePathStyle: true, credentials },
        sqs: { endpoint: moto.endpoint, region: 'us-east-1', credentials },
        poller: { waitTimeSeconds: 1 },
      },
    );
    try {
      const replayed = async () => {
        const tree = await peer.tree();
        return [...journaled.keys()].every((folder) => tree.has(`user_homes/${folder}/a.bin`));
      };
      await waitFor(replayed, 60_000);
      const tree = await peer.tree();
      for (const [folder, sha256] of journaled) {
        expect(tree.get(`user_homes/${folder}`)).toBe('dir');
        expect(tree.get(`user_homes/${folder}/a.bin`)).toBe(sha256);
      }
    } finally {
      await relay.close();
    }
  }, 180_000);
});
