// npm run bench:ingest [-- --count N --concurrency C --warmup W --flows apache,one-request,three-step]
// Posts N small uploads (1–64 KiB) to a relay on loopback with C keep-alive clients and prints acknowledged changes
// per second and latency, next to the same files PUT straight to a local Apache WebDAV server in the same run. W more
// uploads (default 1000) go first, unmeasured, so that relay and client are measured with their hot paths compiled.
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { startApache } from '../support/apache.js';
import { spawnTs } from '../support/child.js';
import { tempDir } from '../support/tmp.js';
import {
  mainThreadCpu,
  markChildOutput,
  ownCpu,
  processCpu,
  processTreeCpu,
  recordPerf,
  threadCpu,
  threadDelta,
} from './proc-cpu.js';
import { scratchDisk } from './scratch-disk.js';
import { percentile, printTable, runPool, seeded } from './stats.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '1000' },
    // Which phases run (comma-separated): fewer make quicker alternating runs of two versions.
    flows: { type: 'string', default: 'apache,one-request,three-step' },
  },
});
const FLOWS = new Set(values.flows.split(','));
for (const flow of FLOWS) {
  if (!['apache', 'one-request', 'three-step'].includes(flow)) throw new Error(`unknown flow ${flow}`);
}
const COUNT = Number(values.count);
const WARMUP = Number(values.warmup);
const CONCURRENCY = Number(values.concurrency);
const TOKEN = 'bench-node-token';
const FOLDERS = 20;

interface File {
  path: string;
  body: Buffer;
  sha256: string;
}

function makeFiles(count: number, name: string): File[] {
  const random = seeded(42);
  const pool = randomBytes(64 * 1024);
  return Array.from({ length: count }, (_, i) => {
    const size = 1024 + Math.floor(random() * 63 * 1024);
    const body = pool.subarray(0, size);
    return {
      path: `/user_homes/d${i % FOLDERS}/${name}${i}.bin`,
      body,
      sha256: createHash('sha256').update(body).digest('hex'),
    };
  });
}

type Mode = 'three-step' | 'one-request';

/**
 * Folders are removed only once every phase has run. Where the file system has no journal (ext4 without one,
 * as on some VMs), creating a file next to thousands freshly deleted costs several times more (ext4 skips
 * recently freed inodes one by one), so a phase run right after another's cleanup would be measured slower.
 */
const cleanups: (() => Promise<void>)[] = [];

async function benchRelay(files: File[], warmup: File[], mode: Mode) {
  const tmp = await tempDir();
  const config = {
    peers: [{ name: 'server2', url: 'http://127.0.0.1:9/' }], // down: this measures ingestion only
    vfs: [{ path: '/user_homes' }],
    auth: { adminToken: 'bench-admin-token-0123456789', nodeTokens: { bench: TOKEN } },
    // Far above what this node sends (the default, 2,000/s with a burst of 4,000, refuses the three-request flow of
    // a long run); still limited, so that the limiter's work per request is measured.
    limits: { nodeRequestsPerSecond: 1_000_000, nodeRequestBurst: 10_000_000 },
  };
  const script = fileURLToPath(new URL('../support/crash-child.ts', import.meta.url));
  // The relay logs as `serve` does (JSON lines at info) into a file beside its journal.
  const child = await spawnTs(script, [join(tmp.dir, 'journal'), JSON.stringify(config)], {
    VFS_RELAY_CHILD_LOG: join(tmp.dir, 'relay.log'),
  });
  const pool = new Pool(child.ready, { connections: CONCURRENCY, pipelining: 1 });
  const auth = { authorization: `Bearer ${TOKEN}` };
  const pid = child.process.pid!;
  const send = async (file: File) => {
    if (mode === 'one-request') {
      const query = new URLSearchParams({ path: file.path, size: String(file.body.length), sha256: file.sha256 });
      const res = await pool.request({ method: 'POST', path: `/v1/uploads?${query}`, headers: auth, body: file.body });
      if (res.statusCode !== 201) throw new Error(`upload ${res.statusCode}: ${await res.body.text()}`);
      await res.body.dump();
      return;
    }
    const created = await pool.request({
      method: 'POST',
      path: '/v1/changes',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ action: 'upload', path: file.path, size: file.body.length, sha256: file.sha256 }),
    });
    const { id, upload } = (await created.body.json()) as { id: string; upload: { url: string } };
    const target = new URL(upload.url); // its query holds the upload's key
    const put = await pool.request({
      method: 'PUT',
      path: `${target.pathname}${target.search}`,
      headers: auth,
      body: file.body,
    });
    if (put.statusCode !== 200) throw new Error(`body ${put.statusCode}: ${await put.body.text()}`);
    await put.body.dump();
    const commit = await pool.request({ method: 'POST', path: `/v1/changes/${id}/commit`, headers: auth });
    if (commit.statusCode !== 200) throw new Error(`commit ${commit.statusCode}: ${await commit.body.text()}`);
    await commit.body.dump();
  };
  await runPool(warmup, CONCURRENCY, send);
  const before = { relay: processCpu(pid), main: mainThreadCpu(pid), threads: threadCpu(pid), client: ownCpu() };
  const stopPerf = recordPerf(pid, `ingest-${mode}`);
  markChildOutput(`measured ${mode}: start`);
  const started = performance.now();
  const latencies = await runPool(files, CONCURRENCY, send);
  const seconds = (performance.now() - started) / 1000;
  markChildOutput(`measured ${mode}: end`);
  await stopPerf();
  const cpu = {
    relay: processCpu(pid) - before.relay,
    main: mainThreadCpu(pid) - before.main,
    threads: threadDelta(before.threads, threadCpu(pid)),
    client: ownCpu() - before.client,
  };
  await pool.close();
  child.process.kill('SIGTERM');
  await child.exited;
  cleanups.push(() => tmp.remove());
  return { seconds, latencies, cpu };
}

async function benchApache(files: File[], warmup: File[]) {
  const apache = await startApache();
  const pool = new Pool(new URL(apache.url).origin, { connections: CONCURRENCY, pipelining: 1 });
  const auth = { authorization: `Basic ${Buffer.from(`${apache.username}:${apache.password}`).toString('base64')}` };
  for (const dir of ['/user_homes/', ...Array.from({ length: FOLDERS }, (_, i) => `/user_homes/d${i}/`)]) {
    await (await pool.request({ method: 'MKCOL', path: dir, headers: auth })).body.dump();
  }
  const put = async (file: File) => {
    const res = await pool.request({ method: 'PUT', path: file.path, headers: auth, body: file.body });
    await res.body.dump();
    if (res.statusCode >= 300) throw new Error(`PUT ${res.statusCode}`);
  };
  await runPool(warmup, CONCURRENCY, put);
  const apachePid = apache.daemonPid!;
  const before = { apache: processTreeCpu(apachePid), client: ownCpu() };
  const started = performance.now();
  const latencies = await runPool(files, CONCURRENCY, put);
  const seconds = (performance.now() - started) / 1000;
  const cpu = { apache: processTreeCpu(apachePid) - before.apache, client: ownCpu() - before.client };
  await pool.close();
  await apache.stop();
  cleanups.push(() => apache.close());
  return { seconds, latencies, cpu };
}

const files = makeFiles(COUNT, 'f');
const warmup = makeFiles(WARMUP, 'w');
const bytes = files.reduce((n, f) => n + f.body.length, 0);
process.stdout.write(
  `ingest benchmark: ${COUNT} uploads (${(bytes / 2 ** 20).toFixed(1)} MiB) after ${WARMUP} unmeasured, ${CONCURRENCY} keep-alive clients\n` +
    scratchDisk(),
);
const baseline = FLOWS.has('apache') ? await benchApache(files, warmup) : undefined;
const oneRequest = FLOWS.has('one-request') ? await benchRelay(files, warmup, 'one-request') : undefined;
const threeStep = FLOWS.has('three-step') ? await benchRelay(files, warmup, 'three-step') : undefined;
const rate = (r: { seconds: number }) => COUNT / r.seconds;
const row = (name: string, r: { seconds: number; latencies: number[] }): [string, string] => [
  name,
  `${rate(r).toFixed(0).padStart(9)}   ${percentile(r.latencies, 50).toFixed(1).padStart(6)}   ${percentile(r.latencies, 99).toFixed(1).padStart(6)}   ${baseline ? `${(rate(r) / rate(baseline)).toFixed(2)}×` : '-'}`,
];
for (const cleanup of cleanups) await cleanup();
const perChange = (seconds: number) => `${((1000 * seconds) / COUNT).toFixed(3)} ms`;
type RelayRun = Awaited<ReturnType<typeof benchRelay>>;
const flows: [string, string, RelayRun | undefined][] = [
  ['1 request', 'relay, POST /v1/uploads (1 request, fsynced)', oneRequest],
  ['3 requests', 'relay, change + body + commit (3 requests, fsynced)', threeStep],
];
const ran = flows.filter((f): f is [string, string, RelayRun] => f[2] !== undefined);
printTable([
  ['', 'changes/s   p50 ms   p99 ms   vs baseline'],
  ...ran.map(([, name, r]) => row(name, r)),
  ...(baseline ? [row('Apache WebDAV PUT (baseline, no fsync)', baseline)] : []),
  ['', ''],
  ['CPU per change', 'relay main thread / relay all threads / client'],
  ...ran.map(([short, , r]): [string, string] => [
    `relay, ${short}`,
    `${perChange(r.cpu.main)} / ${perChange(r.cpu.relay)} / ${perChange(r.cpu.client)}`,
  ]),
  ...(baseline
    ? [
        ['Apache PUT (Apache / client)', `${perChange(baseline.cpu.apache)} / ${perChange(baseline.cpu.client)}`] as [
          string,
          string,
        ],
      ]
    : []),
  [
    'relay (all threads) / client CPU',
    `${ran.map(([short, , r]) => `${short} ${(r.cpu.relay / r.cpu.client).toFixed(2)}×`).join(', ')} ` +
      '(the client did the same requests: a yardstick for how fast the machine ran them)',
  ],
  ...ran.map(([short, , r]): [string, string] => [`relay threads, ${short} (CPU s)`, r.cpu.threads]),
]);
