import { randomBytes } from 'node:crypto';
import { chown, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { type AgentHandle, runAgent } from '../../src/agent/index.js';
import {
  type ApachePeer,
  type ApacheRequest,
  apacheAvailable,
  appliedRequests,
  startApache,
} from '../support/apache.js';
import {
  type ApiHandler,
  type FunctionUrl,
  pumpQueue,
  type ReplayHandler,
  type ReplayPump,
  serveFunctionUrl,
} from '../support/lambda-events.js';
import { freshBucket, type Moto, motoAvailable, motoS3Client, startMoto } from '../support/moto.js';
import { waitFor } from '../support/node-client.js';
import { ADMIN_TOKEN, auth, NODE_A_TOKEN, NODE_B_TOKEN } from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';
import { tempDir } from '../support/tmp.js';

/**
 * Active-active on the Lambda handlers: two Apache servers, each some node's own server with that node's agent
 * watching it, and the functions as separate instances — each loaded on its own (a fresh module graph, nothing
 * shared in memory), as separate Lambda functions and instances are: one API instance per node (behind a loopback
 * "Function URL"), one replay instance fed from the (moto) FIFO queue, one ping instance. Only S3 connects them.
 */

type FunctionModule = { handler: unknown; relay: { close(): Promise<void>; intake: object } };

let moto: Moto;
let s3: S3Client;
let sqs: SQSClient;
let a: ApachePeer;
let b: ApachePeer;
const functions: FunctionModule[] = [];
const closers: (() => Promise<void>)[] = [];
let urlA: FunctionUrl;
let urlB: FunctionUrl;
let pump: ReplayPump;
let agentA: AgentHandle;
let agentB: AgentHandle;
let rootA: string;
let rootB: string;

/** A fresh instance of one function: its module graph loaded again, as a new Lambda instance's cold start. */
async function coldStart(name: 'api' | 'replay' | 'ping'): Promise<FunctionModule> {
  vi.resetModules();
  const load = {
    api: () => import('../../functions/api.js'),
    replay: () => import('../../functions/replay.js'),
    ping: () => import('../../functions/ping.js'),
  };
  const module = (await load[name]()) as FunctionModule;
  functions.push(module);
  closers.push(() => module.relay.close());
  return module;
}

/** The folder the agent watches inside a server's document root, writable by Apache (www-data) too. */
async function sharedRoot(server: ApachePeer): Promise<string> {
  const dir = join(server.root, 'user_homes');
  await mkdir(dir, { mode: 0o777 });
  const { uid, gid } = await stat(server.root);
  await chown(dir, uid, gid);
  return dir;
}

beforeAll(async () => {
  if (!motoAvailable || !apacheAvailable) return;
  moto = await startMoto();
  s3 = motoS3Client(moto.endpoint);
  sqs = new SQSClient({
    region: 'us-east-1',
    endpoint: moto.endpoint,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  a = await startApache();
  b = await startApache();
  const bucket = await freshBucket(s3);
  const queue = await sqs.send(
    new CreateQueueCommand({ QueueName: 'relay.fifo', Attributes: { FifoQueue: 'true', VisibilityTimeout: '30' } }),
  );
  const peer = (server: ApachePeer, name: string, node: string, env: string) => ({
    name,
    node,
    url: server.url,
    username: server.username,
    password: { env },
    pingIntervalSeconds: 1,
  });
  Object.assign(process.env, {
    VFS_RELAY_CONFIG_JSON: JSON.stringify({
      journal: `s3://${bucket}/relay`,
      queue: queue.QueueUrl,
      peers: [peer(a, 'server-a', 'node-a', 'PEER_A_PASSWORD'), peer(b, 'server-b', 'node-b', 'PEER_B_PASSWORD')],
      vfs: [{ path: '/user_homes', replicate: true }],
      auth: {
        adminToken: { env: 'ADMIN_TOKEN' },
        nodeTokens: { 'node-a': { env: 'NODE_A_TOKEN' }, 'node-b': { env: 'NODE_B_TOKEN' } },
      },
    }),
    PEER_A_PASSWORD: a.password,
    PEER_B_PASSWORD: b.password,
    ADMIN_TOKEN,
    NODE_A_TOKEN,
    NODE_B_TOKEN,
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    VFS_RELAY_LOG_LEVEL: 'error',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    POWERTOOLS_METRICS_DISABLED: 'true',
  });
  const apiA = await coldStart('api');
  const apiB = await coldStart('api');
  const replay = await coldStart('replay');
  await coldStart('ping');
  urlA = await serveFunctionUrl(apiA.handler as ApiHandler);
  urlB = await serveFunctionUrl(apiB.handler as ApiHandler);
  closers.push(urlA.close, urlB.close);
  pump = pumpQueue(sqs, queue.QueueUrl!, replay.handler as ReplayHandler);
  closers.push(() => pump.stop());

  [rootA, rootB] = [await sharedRoot(a), await sharedRoot(b)];
  const outboxes = await tempDir();
  closers.push(outboxes.remove);
  const agent = (url: string, token: string, root: string, name: string) =>
    runAgent({
      relay: url,
      token,
      vfs: '/user_homes/',
      watch: root,
      state: join(outboxes.dir, name),
      renameWindowMs: 200,
      stabilityMs: 300,
    });
  agentA = await agent(urlA.url, NODE_A_TOKEN, rootA, 'a');
  agentB = await agent(urlB.url, NODE_B_TOKEN, rootB, 'b');
  closers.push(
    () => agentA.close(),
    () => agentB.close(),
  );
}, 60_000);

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await a?.close();
  await b?.close();
  s3?.destroy();
  sqs?.destroy();
  await moto?.close();
});

interface PeerView {
  name: string;
  pending: number;
  awaitingBody: number;
  conflicts: number;
  failed: number;
  blocked: number;
  echoesSuppressed: number;
}

async function peers(url: FunctionUrl): Promise<PeerView[]> {
  return (await (await fetch(`${url.url}/v1/peers`, { headers: auth(ADMIN_TOKEN) })).json()) as PeerView[];
}

/** Nothing left to send: both agents have nothing queued or being detected, no entry is unfinished, no message. */
async function idle(): Promise<boolean> {
  const agents = [agentA.status(), agentB.status()];
  if (agents.some((s) => s.queued > 0 || s.detecting > 0) || !pump.idle) return false;
  return (await peers(urlA)).every((p) => p.pending + p.awaitingBody + p.conflicts + p.failed + p.blocked === 0);
}

/**
 * Waits until the cluster is quiet: every replica applied, every echo of it reported and answered. A marker file
 * written on each server after the replicas landed is seen by that server's agent after everything the replicas
 * caused (the watcher reports in order); once both markers have crossed and all is idle again, any echo that got
 * through would already be journaled and replayed, and shows in the servers' request logs.
 */
let round = 0;
async function quiet(): Promise<void> {
  const describe = async () =>
    JSON.stringify({ agents: [agentA.status(), agentB.status()], pump: pump.idle, peers: await peers(urlA) });
  await waitFor(idle, 60_000, describe);
  round += 1;
  const [markerA, markerB] = [`quiet-a-${round}.txt`, `quiet-b-${round}.txt`];
  await writeFile(join(rootA, markerA), `a ${round}`);
  await writeFile(join(rootB, markerB), `b ${round}`);
  await waitFor(
    async () => (await a.tree()).has(`user_homes/${markerB}`) && (await b.tree()).has(`user_homes/${markerA}`),
    60_000,
    describe,
  );
  await waitFor(idle, 60_000, describe);
}

/**
 * `<method> <path>` of the writes a server received since `from`; left out: markers, and the MKCOL of the location
 * itself (the relay makes sure a parent exists; it does exist, and Apache answers 405).
 */
async function received(server: ApachePeer, from: number): Promise<string[]> {
  const requests: ApacheRequest[] = (await appliedRequests(server)).slice(from);
  return requests
    .filter((r) => ['PUT', 'MOVE', 'DELETE', 'MKCOL'].includes(r.method) && !r.path.includes('/quiet-'))
    .filter((r) => !(r.method === 'MKCOL' && r.path === '/user_homes/'))
    .map((r) => `${r.method} ${r.path}`);
}

const FILES = 16;
const FOLDERS = 4;

async function makeFiles(root: string, side: string): Promise<string[]> {
  const made: string[] = [];
  for (let i = 0; i < FILES; i++) {
    const folder = join(root, `${side}-side`, `f${i % FOLDERS}`);
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, `${side}${i}.bin`), randomBytes(512 + i * 997));
    made.push(`/user_homes/${side}-side/f${i % FOLDERS}/${side}${i}.bin`);
  }
  return made;
}

const files = (tree: Map<string, string>) => [...tree].filter(([path, v]) => v !== 'dir' && !path.includes('/quiet-'));
const only = (lines: string[], method: string) =>
  lines.filter((l) => l.startsWith(`${method} `)).map((l) => l.slice(method.length + 1));

describeWithServer(
  'moto_server and Apache httpd',
  motoAvailable && apacheAvailable,
  'active-active through separate API, replay and ping functions',
  () => {
    it('loads every function on its own: no memory is shared between them', () => {
      const intakes = new Set(functions.map((f) => f.relay.intake.constructor));
      expect(intakes.size).toBe(functions.length);
    });

    it('replicates new files both ways exactly once, suppresses every echo, and goes quiet', async () => {
      const [fromA, fromB] = [(await appliedRequests(a)).length, (await appliedRequests(b)).length];
      const [madeA, madeB] = await Promise.all([makeFiles(rootA, 'a'), makeFiles(rootB, 'b')]);
      await waitFor(
        async () => files(await a.tree()).length === 2 * FILES && files(await b.tree()).length === 2 * FILES,
        120_000,
        async () => `A has ${files(await a.tree()).length}, B has ${files(await b.tree()).length}`,
      );
      await quiet();
      expect(files(await a.tree())).toEqual(files(await b.tree()));

      // Each server received the other side's files, each exactly once, and nothing of its own came back.
      const [toA, toB] = [await received(a, fromA), await received(b, fromB)];
      expect(only(toA, 'PUT').sort()).toEqual([...madeB].sort());
      expect(only(toB, 'PUT').sort()).toEqual([...madeA].sort());
      expect(toA.filter((l) => !l.includes('/user_homes/b-side'))).toEqual([]);
      expect(toB.filter((l) => !l.includes('/user_homes/a-side'))).toEqual([]);
      expect([...only(toA, 'MOVE'), ...only(toA, 'DELETE'), ...only(toB, 'MOVE'), ...only(toB, 'DELETE')]).toEqual([]);

      // Every replica came back as an echo and was dropped by the API instance of its node; both instances see
      // both counts (kept in S3).
      const [viaA, viaB] = [await peers(urlA), await peers(urlB)];
      expect(viaA.map((p) => p.echoesSuppressed)).toEqual(viaB.map((p) => p.echoesSuppressed));
      for (const p of viaA) expect(p.echoesSuppressed).toBeGreaterThanOrEqual(FILES);
      expect(pump.errors).toEqual([]);
    }, 240_000);

    it('replicates renames, moves and deletes both ways exactly once, with no echo, and goes quiet', async () => {
      const [fromA, fromB] = [(await appliedRequests(a)).length, (await appliedRequests(b)).length];
      const echoesBefore = (await peers(urlA)).map((p) => p.echoesSuppressed);
      const change = async (root: string, s: string) => {
        const at = (rel: string) => join(root, `${s}-side`, rel);
        await rename(at(`f0/${s}0.bin`), at(`f0/${s}0-renamed.bin`));
        await rename(at(`f0/${s}4.bin`), at(`f3/${s}4-moved.bin`));
        await rename(at('f2'), at('f2-renamed'));
        await rm(at(`f0/${s}8.bin`));
        await rm(at(`f3/${s}3.bin`));
        await rm(at('f1'), { recursive: true });
      };
      await Promise.all([change(rootA, 'a'), change(rootB, 'b')]);
      const expected = FILES - 2 - FILES / FOLDERS; // per side: two files and folder f1 with its files removed
      await waitFor(
        async () => {
          const [ta, tb] = [files(await a.tree()), files(await b.tree())];
          return ta.length === 2 * expected && JSON.stringify(ta) === JSON.stringify(tb);
        },
        120_000,
        async () => `A has ${files(await a.tree()).length}, B has ${files(await b.tree()).length}`,
      );
      await quiet();
      const tree = files(await a.tree()).map(([path]) => path);
      for (const s of ['a', 'b']) {
        expect(tree).toContain(`user_homes/${s}-side/f0/${s}0-renamed.bin`);
        expect(tree).toContain(`user_homes/${s}-side/f3/${s}4-moved.bin`);
        expect(tree.some((p) => p.startsWith(`user_homes/${s}-side/f2-renamed/`))).toBe(true);
        expect(
          tree.some((p) => p.startsWith(`user_homes/${s}-side/f1/`) || p.startsWith(`user_homes/${s}-side/f2/`)),
        ).toBe(false);
      }

      const [toA, toB] = [await received(a, fromA), await received(b, fromB)];
      for (const [to, s] of [
        [toA, 'b'],
        [toB, 'a'],
      ] as const) {
        const side = `/user_homes/${s}-side`;
        // Every rename once, as a MOVE: nothing sent again, nothing sent back.
        expect(only(to, 'MOVE').sort()).toEqual([`${side}/f0/${s}0.bin`, `${side}/f0/${s}4.bin`, `${side}/f2`]);
        expect(only(to, 'PUT')).toEqual([]);
        // Deletes: each path once; the two files and the folder (the agent may report its files first).
        const deletes = only(to, 'DELETE');
        expect(new Set(deletes).size).toBe(deletes.length);
        expect(deletes).toEqual(expect.arrayContaining([`${side}/f0/${s}8.bin`, `${side}/f3/${s}3.bin`, `${side}/f1`]));
        const deleted = [`${side}/f0/${s}8.bin`, `${side}/f3/${s}3.bin`, `${side}/f1`];
        expect(deletes.every((p) => deleted.includes(p) || p.startsWith(`${side}/f1/`))).toBe(true);
        expect(to.filter((l) => !l.includes(side))).toEqual([]);
      }
      // The renames and deletes came back as echoes too, and were dropped.
      const echoesAfter = (await peers(urlA)).map((p) => p.echoesSuppressed);
      for (const [i, before] of echoesBefore.entries()) expect(echoesAfter[i]).toBeGreaterThanOrEqual(before + 5);
      expect(pump.errors).toEqual([]);
    }, 240_000);
  },
);
