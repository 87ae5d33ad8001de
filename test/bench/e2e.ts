// npm run bench:e2e [-- --count N --trickle-seconds S --modified-time --watcher folders|chokidar --stability-ms MS
//   --wait-only]   (--wait-only: no close-after-write signal, the agent waits for files to hold still)
// Agent → relay → Apache on loopback, each in its own process, in one run:
// 1. baseline: the burst's files PUT straight to Apache over 8 keep-alive connections (the rate the peer takes);
// 2. trickle: one 4 KiB file every 50 ms for S seconds (default 10) — per file, the time from its close to its
//    arrival on the peer (Apache's receive time of the PUT), and how much of it the agent spent before it
//    journaled the change (detection and the write-stability check);
// 3. burst: N files of 1–16 KiB (default 1,000) copied at once — the time until the peer's tree is complete,
//    next to the target copy time + N / (0.8 × baseline rate) + 1.5 s.
// The peer is configured as docs/configuration.md recommends for Apache (`setModifiedTime: false`: mod_dav_fs
// does not apply modified times); --modified-time sends them anyway (one PROPPATCH after each PUT).
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { type ApachePeer, peerConfig, startApache } from '../support/apache.js';
import { spawnTs } from '../support/child.js';
import { waitFor } from '../support/node-client.js';
import { NODE_A_TOKEN } from '../support/relay.js';
import { tempDir } from '../support/tmp.js';
import { scratchDisk } from './scratch-disk.js';
import { percentile, printTable, runPool, seeded } from './stats.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '1000' },
    'trickle-seconds': { type: 'string', default: '10' },
    'modified-time': { type: 'boolean', default: false },
    watcher: { type: 'string' },
    'stability-ms': { type: 'string' },
    'wait-only': { type: 'boolean', default: false },
  },
});
const COUNT = Number(values.count);
const TRICKLE_EVERY_MS = 50;
const TRICKLE_FILES = Math.round((Number(values['trickle-seconds']) * 1000) / TRICKLE_EVERY_MS);
const CONNECTIONS = 8;

interface Sent {
  path: string;
  closedAt: number;
  sha256: string;
}

const apache = await startApache();
const tmp = await tempDir();
const watched = join(tmp.dir, 'watched');
await mkdir(join(watched, 'trickle'), { recursive: true });
await mkdir(join(watched, 'burst'));
const random = seeded(9);
const burst = Array.from({ length: COUNT }, (_, i) => ({
  name: `f${String(i).padStart(5, '0')}.bin`,
  body: randomBytes(1024 + Math.floor(random() * 15 * 1024)),
}));

const baselineRate = await putBaseline(apache);

const relay = await spawnTs(
  fileURLToPath(new URL('../support/crash-child.ts', import.meta.url)),
  [
    join(tmp.dir, 'journal'),
    JSON.stringify({
      peers: [{ ...peerConfig(apache, 'apache'), setModifiedTime: values['modified-time'] }],
      vfs: [{ path: '/user_homes', replicate: true }],
      auth: { adminToken: 'bench-admin-token-0123456789', nodeTokens: { node: NODE_A_TOKEN } },
    }),
  ],
  { VFS_RELAY_CHILD_LOG: join(tmp.dir, 'relay.log') },
); // the relay logs as `serve` does (JSON lines at info)
const agent = await spawnTs(fileURLToPath(new URL('../support/agent-child.ts', import.meta.url)), [
  JSON.stringify({
    relay: relay.ready,
    token: NODE_A_TOKEN,
    vfs: '/user_homes/',
    watch: watched,
    state: join(tmp.dir, 'agent-state'),
    watcher: values.watcher,
    stabilityMs: values['stability-ms'] === undefined ? undefined : Number(values['stability-ms']),
    closeSignal: !values['wait-only'],
    // Prints when each change is journaled, for the breakdown below.
    reportJournaled: true,
  }),
]);
try {
  // Trickle: one file every 50 ms, on a fixed schedule (a late write does not shift the ones after it).
  const trickle: Sent[] = [];
  const start = performance.now();
  for (let i = 0; i < TRICKLE_FILES; i++) {
    const due = start + i * TRICKLE_EVERY_MS;
    await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    const body = randomBytes(4096);
    const name = `t${String(i).padStart(4, '0')}.bin`;
    await writeFile(join(watched, 'trickle', name), body);
    trickle.push({ path: `/user_homes/trickle/${name}`, closedAt: Date.now(), sha256: sha256(body) });
  }
  await arrived(apache, 'trickle', trickle);

  // Burst: every file as fast as the disk takes them.
  const sent: Sent[] = [];
  const started = Date.now();
  for (const { name, body } of burst) {
    await writeFile(join(watched, 'burst', name), body);
    sent.push({ path: `/user_homes/burst/${name}`, closedAt: Date.now(), sha256: sha256(body) });
  }
  const copied = Date.now();
  await arrived(apache, 'burst', sent);
  const complete = Date.now();

  const arrivals = new Map<string, number>();
  for (const r of await apache.requests()) {
    if (r.method === 'PUT' && r.status < 300 && !arrivals.has(r.path)) arrivals.set(r.path, r.receivedUs / 1000);
  }
  const journaled = parseJournaled(agent.stdout());
  const latency = (files: Sent[]) =>
    files.map((f) => (arrivals.get(f.path) ?? Number.NaN) - f.closedAt).sort((a, b) => a - b);
  const inAgent = (files: Sent[]) =>
    files.map((f) => (journaled.get(f.path) ?? Number.NaN) - f.closedAt).sort((a, b) => a - b);
  const ms = (n: number) => `${n.toFixed(0)} ms`;
  const trickleLatency = latency(trickle);
  const trickleAgent = inAgent(trickle);
  const burstLatency = latency(sent);
  const target = copied - started + (COUNT / (0.8 * baselineRate)) * 1000 + 1500;

  process.stdout.write(
    `e2e benchmark: agent, relay, Apache in 3 processes; watcher ${values.watcher ?? 'default'}, ` +
      `${values['wait-only'] ? 'no close signal' : 'close signal where available'}, ` +
      `stability wait ${values['stability-ms'] ?? 'default'}, modified times ${values['modified-time'] ? 'sent' : 'not sent'}\n` +
      scratchDisk(),
  );
  printTable([
    [`baseline: ${COUNT} PUTs straight to Apache (${CONNECTIONS} connections)`, `${baselineRate.toFixed(0)} PUT/s`],
    [`trickle: ${TRICKLE_FILES} files of 4 KiB, one every ${TRICKLE_EVERY_MS} ms`, ''],
    ['  close → arrival on the peer, p50', ms(percentile(trickleLatency, 50))],
    ['  close → arrival on the peer, p99 (target < 1000 ms)', ms(percentile(trickleLatency, 99))],
    ['  close → arrival on the peer, max', ms(trickleLatency[trickleLatency.length - 1]!)],
    ['  of which in the agent (close → journaled), p50', ms(percentile(trickleAgent, 50))],
    ['  of which in the agent (close → journaled), p99', ms(percentile(trickleAgent, 99))],
    [`burst: ${COUNT} files of 1–16 KiB copied at once`, ''],
    ['  copying the files took', ms(copied - started)],
    ['  close → arrival on the peer, p50', ms(percentile(burstLatency, 50))],
    ['  close → arrival on the peer, p99', ms(percentile(burstLatency, 99))],
    ['  until the peer tree was complete', ms(complete - started)],
    [
      `  target: copy + ${COUNT} / (0.8 × baseline) + 1.5 s`,
      `${ms(target)} (${complete - started <= target ? 'met' : 'not met'})`,
    ],
  ]);
} finally {
  for (const child of [agent, relay]) {
    child.process.kill('SIGTERM');
    await child.exited;
  }
  await apache.close();
  await tmp.remove();
}

/** The burst's files PUT straight to Apache into a folder of their own; returns PUTs per second. */
async function putBaseline(peer: ApachePeer): Promise<number> {
  const pool = new Pool(new URL(peer.url).origin, { connections: CONNECTIONS, pipelining: 1 });
  const auth = { authorization: `Basic ${Buffer.from(`${peer.username}:${peer.password}`).toString('base64')}` };
  try {
    const made = await pool.request({ method: 'MKCOL', path: '/baseline/', headers: auth });
    await made.body.dump();
    if (made.statusCode !== 201) throw new Error(`MKCOL /baseline/: ${made.statusCode}`);
    const started = performance.now();
    await runPool(burst, CONNECTIONS, async ({ name, body }) => {
      const res = await pool.request({ method: 'PUT', path: `/baseline/${name}`, headers: auth, body });
      await res.body.dump();
      if (res.statusCode >= 300) throw new Error(`PUT /baseline/${name}: ${res.statusCode}`);
    });
    return COUNT / ((performance.now() - started) / 1000);
  } finally {
    await pool.close();
  }
}

/** Waits until every file is on the peer, then checks each one's bytes. */
async function arrived(peer: ApachePeer, folder: string, files: Sent[]): Promise<void> {
  // Counting names is cheap; hashing the peer's tree at every poll would take CPU from the pipeline measured.
  const count = async () => (await readdir(join(peer.root, 'user_homes', folder)).catch(() => [])).length;
  await waitFor(
    async () => (await count()) >= files.length,
    5 * 60_000,
    async () => `${await count()} of ${files.length} files of ${folder}/ on the peer`,
  );
  const tree = await peer.tree();
  const wrong = files.filter((f) => tree.get(f.path.slice(1)) !== f.sha256);
  if (wrong.length > 0) throw new Error(`${wrong.length} files missing or different on the peer: ${wrong[0]!.path}`);
}

/** `journaled <epoch ms> <vfs path>` lines the agent child prints: the first time each upload was journaled. */
function parseJournaled(output: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of output.split('\n')) {
    const match = /^journaled (\d+) (.+)$/.exec(line);
    if (match && !out.has(match[2]!)) out.set(match[2]!, Number(match[1]));
  }
  return out;
}

function sha256(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}
