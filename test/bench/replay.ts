// npm run bench:replay [-- --count N --concurrency C --big-mib M --warmup W --warmup-rounds R]
// Journals N small uploads (1–64 KiB, 20 folders) through a relay while its WebDAV peer (a local Apache) is down,
// brings the peer back and measures how fast the backlog drains, next to the same files PUT straight to the same
// Apache in the same run, and beside a "floor": the same PUTs from a client that reads each body from a journal-like
// entry on disk and removes the entry afterwards, as any relay keeping the contract's layout must. W more files
// (default 1000) go through the relay and the baseline clients first, unmeasured, so that both are measured with
// their hot paths compiled (see docs/benchmarks.md); the relay takes them through R outages of the peer (default 1;
// 2 measures a relay that has seen an outage end before). Then journals one large upload (default 1 GiB, streamed
// from disk) and reports the relay's peak RSS and the time while it replays that body. C is used for the posters,
// the relay's replay concurrency and the baseline's connections (default 8). Prints figures only; any failed
// verification throws.
import { createHash, randomBytes } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  mkdirSync,
  readFileSync,
  rmdirSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { Pool, request } from 'undici';
import type { JournalEntry } from '../../src/core/entry.js';
import { encodeEntry } from '../../src/core/entry-xml.js';
import { type ApachePeer, peerConfig, startApache } from '../support/apache.js';
import { type Child, spawnTs } from '../support/child.js';
import { postChange } from '../support/node-client.js';
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
    count: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '8' },
    'big-mib': { type: 'string', default: '1024' },
    warmup: { type: 'string', default: '1000' },
    'warmup-rounds': { type: 'string', default: '1' },
  },
});
const COUNT = positiveInt('count', values.count);
const CONCURRENCY = positiveInt('concurrency', values.concurrency);
const BIG_MIB = positiveInt('big-mib', values['big-mib']);
const WARMUP = values.warmup === '0' ? 0 : positiveInt('warmup', values.warmup);
const WARMUP_ROUNDS = positiveInt('warmup-rounds', values['warmup-rounds']);

const NODE_TOKEN = 'bench-node-token';
const ADMIN_TOKEN = 'bench-admin-token';
const PEER = 'apache';
const FOLDERS = 20;
const BASE = '/user_homes/bench';
/** Where the warm-up files go through the relay: outside BASE, which the verification counts. */
const WARMUP_BASE = '/user_homes/warmup';
const BASELINE = '/baseline';
const FLOOR = '/floor';
const BIG_PATH = '/user_homes/big/big.bin';
// Polling `GET /v1/peers` costs the relay CPU too (it walks the backlog): often enough to time a drain of seconds.
const PENDING_POLL_MS = 100;
const RSS_POLL_MS = 50;
const DRAIN_TIMEOUT_MS = 10 * 60_000;
const REQUEST_TIMEOUT_MS = 30_000;
const CHILD_SCRIPT = fileURLToPath(new URL('../support/crash-child.ts', import.meta.url));
const randomBytesAsync = promisify(randomBytes);

interface File {
  path: string;
  body: Buffer;
  sha256: string;
}

interface PeerInfo {
  name: string;
  status: string;
  pending: number;
  pendingBytes: number;
  conflicts: number;
  failed: number;
  blocked: number;
  awaitingBody: number;
  lastError?: string;
}

function positiveInt(name: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${value}`);
  return n;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves after `ms` without keeping the process alive (for races against a bound). */
function deadline(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function makeFiles(count: number, base: string, name: string, seed: number): File[] {
  const random = seeded(seed);
  return Array.from({ length: count }, (_, i) => {
    const size = 1024 + Math.floor(random() * 63 * 1024);
    const body = randomBytes(size);
    return { path: `${base}/d${i % FOLDERS}/${name}${i}.bin`, body, sha256: sha256(body) };
  });
}

/** A relay child (crash-child.ts) whose only peer is `apache`, journaling into `journal`. */
function startRelay(journal: string, apache: ApachePeer): Promise<Child> {
  const config = {
    peers: [peerConfig(apache, PEER)],
    vfs: [{ path: '/user_homes' }],
    auth: { adminToken: ADMIN_TOKEN, nodeTokens: { bench: NODE_TOKEN } },
    replay: { concurrency: CONCURRENCY },
    // Far above what the posters send: the default (2,000 requests/s, burst 4,000) refused the fill of a long run
    // with 429 once the relay was warm (three requests per upload).
    limits: { nodeRequestsPerSecond: 1_000_000, nodeRequestBurst: 10_000_000 },
  };
  // The relay logs as `serve` does (a JSON line per replayed file at info), into a file beside its journal.
  return spawnTs(CHILD_SCRIPT, [journal, JSON.stringify(config)], { VFS_RELAY_CHILD_LOG: `${journal}.log` });
}

async function stopRelay(child: Child | undefined): Promise<void> {
  if (!child || child.process.exitCode !== null || child.process.signalCode !== null) return;
  child.process.kill('SIGTERM');
  const exited = await Promise.race([child.exited.then(() => true), deadline(15_000).then(() => false)]);
  if (!exited) {
    child.process.kill('SIGKILL');
    await Promise.race([child.exited, deadline(5_000)]);
  }
}

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

async function peerInfo(relay: string): Promise<PeerInfo> {
  const res = await fetch(`${relay}/v1/peers`, { headers: admin, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  if (res.status !== 200) throw new Error(`GET /v1/peers: ${res.status} ${await res.text()}`);
  const peers = (await res.json()) as PeerInfo[];
  const peer = peers.find((p) => p.name === PEER);
  if (!peer) throw new Error(`GET /v1/peers: no peer ${PEER} in ${JSON.stringify(peers)}`);
  return peer;
}

async function ping(relay: string): Promise<PeerInfo> {
  const res = await fetch(`${relay}/v1/peers/${PEER}/ping`, {
    method: 'POST',
    headers: admin,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  if (res.status !== 200) throw new Error(`POST /v1/peers/${PEER}/ping: ${res.status} ${await res.text()}`);
  return (await res.json()) as PeerInfo;
}

/** Polls GET /v1/peers every PENDING_POLL_MS until nothing is pending; throws on parked entries or timeout. */
async function waitDrained(relay: string, child: Child): Promise<void> {
  const deadline = Date.now() + DRAIN_TIMEOUT_MS;
  for (;;) {
    const peer = await peerInfo(relay);
    if (peer.conflicts > 0 || peer.failed > 0) {
      throw new Error(`replay parked entries: ${JSON.stringify(peer)}\n${child.stderr()}`);
    }
    if (peer.pending === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`backlog not drained after ${DRAIN_TIMEOUT_MS} ms: ${JSON.stringify(peer)}\n${child.stderr()}`);
    }
    await sleep(PENDING_POLL_MS);
  }
}

/** Polls until the relay reports `count` pending entries and the peer OFFLINE (all journaled, nothing sent). */
async function waitBacklog(relay: string, count: number): Promise<PeerInfo> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const peer = await peerInfo(relay);
    if (peer.pending === count && peer.awaitingBody === 0 && peer.status !== 'ONLINE') return peer;
    if (Date.now() > deadline) throw new Error(`expected ${count} pending with the peer down: ${JSON.stringify(peer)}`);
    await sleep(50);
  }
}

function basicAuth(apache: ApachePeer): string {
  return `Basic ${Buffer.from(`${apache.username}:${apache.password}`).toString('base64')}`;
}

/** Journals `files` with the peer down, then brings Apache back and waits until the relay has sent them all. */
async function fillAndDrain(relay: string, child: Child, apache: ApachePeer, files: File[]): Promise<void> {
  await apache.stop();
  await runPool(files, CONCURRENCY, async (file) => {
    await postChange(relay, NODE_TOKEN, { action: 'upload', path: file.path, body: file.body });
  });
  await waitBacklog(relay, files.length);
  await apache.start();
  await ping(relay);
  await waitDrained(relay, child);
}

/**
 * Journals the files through the relay with the peer down, brings Apache back and times the drain. The warm-up
 * files go the same way first, unmeasured.
 */
async function benchDrain(apache: ApachePeer, files: File[], warmup: File[], journal: string) {
  await apache.stop();
  let child: Child | undefined;
  try {
    child = await startRelay(journal, apache);
    const relay = child.ready;
    const pid = child.process.pid!;
    for (let round = 0; round < (warmup.length > 0 ? WARMUP_ROUNDS : 0); round++) {
      const warmed = performance.now();
      // Each round journals the warm-up files again (fresh names), as a new outage would.
      const files =
        round === 0 ? warmup : warmup.map((f) => ({ ...f, path: f.path.replace(/\.bin$/, `-r${round}.bin`) }));
      await fillAndDrain(relay, child, apache, files);
      await apache.stop();
      process.stdout.write(
        `  warm-up ${round + 1}/${WARMUP_ROUNDS}: ${warmup.length} uploads journaled and drained in ` +
          `${((performance.now() - warmed) / 1000).toFixed(1)} s\n`,
      );
    }
    const fillCpuBefore = { all: processCpu(pid), main: mainThreadCpu(pid) };
    const stopFillPerf = recordPerf(pid, 'fill');
    const fillStarted = performance.now();
    const fillLatencies = await runPool(files, CONCURRENCY, async (file) => {
      await postChange(relay, NODE_TOKEN, { action: 'upload', path: file.path, body: file.body });
    });
    const fillSeconds = (performance.now() - fillStarted) / 1000;
    await stopFillPerf();
    const fillCpu = { all: processCpu(pid) - fillCpuBefore.all, main: mainThreadCpu(pid) - fillCpuBefore.main };
    const before = await waitBacklog(relay, files.length);
    process.stdout.write(
      `  journaled ${files.length} uploads in ${fillSeconds.toFixed(2)} s with the peer ${before.status}\n`,
    );

    await apache.start();
    // The pinger (every second) may have found the peer first; then the drain began a little before `started`.
    const statusBeforePing = (await peerInfo(relay)).status;
    const apachePid = apache.daemonPid!;
    const cpuBefore = { relay: processCpu(pid), main: mainThreadCpu(pid), threads: threadCpu(pid) };
    const apacheBefore = processTreeCpu(apachePid);
    const stopPerf = recordPerf(pid, 'drain');
    markChildOutput('measured drain: start');
    const started = performance.now();
    await ping(relay);
    await waitDrained(relay, child);
    const seconds = (performance.now() - started) / 1000;
    markChildOutput('measured drain: end');
    await stopPerf();
    const cpu = processCpu(pid) - cpuBefore.relay;
    const mainCpu = mainThreadCpu(pid) - cpuBefore.main;
    const threads = threadDelta(cpuBefore.threads, threadCpu(pid));
    const apacheCpu = processTreeCpu(apachePid) - apacheBefore;
    process.stdout.write(`  drained in ${seconds.toFixed(2)} s (status just before the ping: ${statusBeforePing})\n`);

    // Verify: every file on Apache, with its sha256.
    const tree = await apache.tree();
    const prefix = `${BASE.slice(1)}/`;
    const present = [...tree].filter(([p, v]) => p.startsWith(prefix) && v !== 'dir').length;
    const wrong = files.filter((f) => tree.get(f.path.slice(1)) !== f.sha256);
    if (wrong.length > 0 || present !== files.length) {
      throw new Error(
        `Apache has ${present} files under ${BASE}, ${wrong.length} missing or different (first: ${wrong
          .slice(0, 5)
          .map((f) => f.path)
          .join(', ')})`,
      );
    }
    process.stdout.write(`  verified ${files.length} files on Apache (sha256)\n`);
    return { seconds, fillSeconds, fillLatencies, fillCpu, statusBeforePing, cpu, mainCpu, threads, apacheCpu };
  } finally {
    await stopRelay(child);
  }
}

/**
 * The same files PUT straight to Apache (fresh folder, folders made first), C keep-alive connections. With
 * `journal`, the floor of any relay that keeps the contract's layout: each body is first written (unmeasured) as a
 * journal entry would be (`<journal>/<n>/config.XML` + `upload`), then, measured, read from there, PUT, and the
 * entry's two files and folder removed after the 2xx. No log, no index, no ordering: what is left of a drain.
 */
async function benchBaseline(apache: ApachePeer, files: File[], warmup: File[], root: string, journal?: string) {
  const pool = new Pool(new URL(apache.url).origin, { connections: CONCURRENCY, pipelining: 1 });
  const auth = { authorization: basicAuth(apache) };
  let entries = 0;
  /** A journal-like entry for `file` (unmeasured); returns its folder. */
  const write = (file: File): string => {
    const id = String(entries++);
    const dir = join(journal!, id);
    mkdirSync(dir);
    const entry: JournalEntry = {
      id,
      lane: 'floor',
      peer: PEER,
      location: '/user_homes',
      action: 'upload',
      path: file.path,
      size: file.body.length,
      createdAt: new Date().toISOString(),
      status: 'PENDING',
      attempts: 0,
    };
    writeFileSync(join(dir, 'config.XML'), encodeEntry(entry));
    writeFileSync(join(dir, 'upload'), file.body);
    return dir;
  };
  /** Each file with its journal-like entry (written now), or without one for the in-memory baseline. */
  const withEntries = (list: File[]) => list.map((file) => ({ file, dir: journal ? write(file) : undefined }));
  const put = async (file: File, base: string, dir: string | undefined) => {
    const path = `${root}${file.path.slice(base.length)}`;
    const body = dir === undefined ? file.body : readFileSync(join(dir, 'upload'));
    const res = await pool.request({ method: 'PUT', path, headers: auth, body });
    await res.body.dump();
    if (res.statusCode >= 300) throw new Error(`PUT ${path}: ${res.statusCode}`);
    if (dir === undefined) return;
    unlinkSync(join(dir, 'config.XML'));
    unlinkSync(join(dir, 'upload'));
    rmdirSync(dir);
  };
  try {
    if (journal) mkdirSync(journal, { recursive: true });
    for (const dir of [`${root}/`, ...Array.from({ length: FOLDERS }, (_, i) => `${root}/d${i}/`)]) {
      const res = await pool.request({ method: 'MKCOL', path: dir, headers: auth });
      await res.body.dump();
      if (res.statusCode !== 201) throw new Error(`MKCOL ${dir}: ${res.statusCode}`);
    }
    // Warm-up: the same kind of PUTs into the same folders, under other names.
    await runPool(withEntries(warmup), CONCURRENCY, ({ file, dir }) => put(file, WARMUP_BASE, dir));
    const measured = withEntries(files); // written before the clock starts
    const apachePid = apache.daemonPid!;
    const clientBefore = ownCpu();
    const apacheBefore = processTreeCpu(apachePid);
    const started = performance.now();
    const latencies = await runPool(measured, CONCURRENCY, ({ file, dir }) => put(file, BASE, dir));
    const seconds = (performance.now() - started) / 1000;
    return {
      seconds,
      latencies,
      clientCpu: ownCpu() - clientBefore,
      apacheCpu: processTreeCpu(apachePid) - apacheBefore,
    };
  } finally {
    await pool.close();
  }
}

/** Writes `mib` MiB of random bytes to `file` as a stream of 1 MiB chunks; returns its sha256. */
async function makeBigFile(file: string, mib: number): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  async function* chunks() {
    for (let i = 0; i < mib; i++) {
      const chunk = await randomBytesAsync(1 << 20);
      hash.update(chunk);
      yield chunk;
    }
  }
  await pipeline(Readable.from(chunks()), createWriteStream(file, { flags: 'wx', highWaterMark: 1 << 20 }));
  return { size: mib * 2 ** 20, sha256: hash.digest('hex') };
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** VmRSS and VmHWM of a process, in KiB. */
function memory(pid: number): { rssKiB: number; hwmKiB: number } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    if (!match) throw new Error(`no ${name} in /proc/${pid}/status`);
    return Number(match[1]);
  };
  return { rssKiB: field('VmRSS'), hwmKiB: field('VmHWM') };
}

/** Posts one upload the way a node does, its body streamed from `file` (never held in memory). */
async function postBigUpload(relay: string, file: string, digest: { size: number; sha256: string }): Promise<void> {
  const auth = { authorization: `Bearer ${NODE_TOKEN}` };
  const created = await fetch(`${relay}/v1/changes`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ action: 'upload', path: BIG_PATH, size: digest.size, sha256: digest.sha256 }),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const answer = (await created.json()) as { id: string; upload?: { url: string; headers: Record<string, string> } };
  if (created.status !== 201 || !answer.upload) throw new Error(`POST ${BIG_PATH}: ${created.status}`);
  const put = await request(answer.upload.url, {
    method: 'PUT',
    headers: { ...answer.upload.headers, ...auth, 'content-length': String(digest.size) },
    body: createReadStream(file, { highWaterMark: 1 << 20 }),
    headersTimeout: 10 * 60_000,
    bodyTimeout: 10 * 60_000,
  });
  const receipt = await put.body.text();
  if (put.statusCode !== 200) throw new Error(`PUT body of ${BIG_PATH}: ${put.statusCode} ${receipt}`);
  const commit = await fetch(`${relay}/v1/changes/${answer.id}/commit`, {
    method: 'POST',
    headers: auth,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  if (commit.status !== 200) throw new Error(`commit ${BIG_PATH}: ${commit.status} ${await commit.text()}`);
}

/** One large upload journaled with the peer down, then replayed: peak RSS of the relay and replay time. */
async function benchBig(apache: ApachePeer, scratch: string, journal: string) {
  const file = join(scratch, 'big.bin');
  const generated = performance.now();
  const digest = await makeBigFile(file, BIG_MIB);
  process.stdout.write(
    `  generated ${BIG_MIB} MiB on disk in ${((performance.now() - generated) / 1000).toFixed(1)} s\n`,
  );

  await apache.stop();
  let child: Child | undefined;
  let sampler: NodeJS.Timeout | undefined;
  try {
    child = await startRelay(journal, apache);
    const relay = child.ready;
    const pid = child.process.pid!;
    const ingestStarted = performance.now();
    await postBigUpload(relay, file, digest);
    const ingestSeconds = (performance.now() - ingestStarted) / 1000;
    const backlog = await waitBacklog(relay, 1);
    if (backlog.pendingBytes !== digest.size) throw new Error(`pendingBytes ${backlog.pendingBytes} ≠ ${digest.size}`);
    const ingestHwmKiB = memory(pid).hwmKiB;
    // Reset the peak-RSS counter (Linux: "5" > clear_refs) so that VmHWM covers the replay alone.
    let hwmReset = true;
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, '5');
    } catch {
      hwmReset = false;
    }
    const idleRssKiB = memory(pid).rssKiB;
    process.stdout.write(
      `  journaled ${BIG_MIB} MiB in ${ingestSeconds.toFixed(1)} s (relay VmHWM so far ${mib(ingestHwmKiB)} MiB)\n`,
    );

    await apache.start();
    let peakRssKiB = idleRssKiB;
    let samples = 0;
    sampler = setInterval(() => {
      try {
        peakRssKiB = Math.max(peakRssKiB, memory(pid).rssKiB);
        samples++;
      } catch {
        // the child exited: waitDrained reports it
      }
    }, RSS_POLL_MS);
    const cpuBefore = processCpu(pid);
    const started = performance.now();
    await ping(relay);
    await waitDrained(relay, child);
    const seconds = (performance.now() - started) / 1000;
    const cpu = processCpu(pid) - cpuBefore;
    clearInterval(sampler);
    sampler = undefined;
    const end = memory(pid);
    peakRssKiB = Math.max(peakRssKiB, end.rssKiB);

    const arrived = join(apache.root, BIG_PATH.slice(1));
    const size = (await stat(arrived)).size;
    if (size !== digest.size) throw new Error(`${BIG_PATH} on Apache is ${size} bytes, expected ${digest.size}`);
    const hashed = await sha256File(arrived);
    if (hashed !== digest.sha256)
      throw new Error(`${BIG_PATH} on Apache has sha256 ${hashed}, expected ${digest.sha256}`);
    process.stdout.write(`  replayed in ${seconds.toFixed(2)} s; verified size and sha256 on Apache\n`);
    return {
      seconds,
      cpu,
      ingestSeconds,
      idleRssKiB,
      peakRssKiB,
      samples,
      hwmKiB: end.hwmKiB,
      hwmReset,
      ingestHwmKiB,
      size: digest.size,
      file,
    };
  } finally {
    if (sampler) clearInterval(sampler);
    await stopRelay(child);
  }
}

/** The big file PUT straight to Apache, for scale. */
async function benchBigBaseline(apache: ApachePeer, file: string, size: number): Promise<number> {
  const started = performance.now();
  const res = await request(new URL('/big-baseline.bin', apache.url), {
    method: 'PUT',
    headers: { authorization: basicAuth(apache), 'content-length': String(size) },
    body: createReadStream(file, { highWaterMark: 1 << 20 }),
    headersTimeout: 10 * 60_000,
    bodyTimeout: 10 * 60_000,
  });
  await res.body.dump();
  if (res.statusCode >= 300) throw new Error(`PUT /big-baseline.bin: ${res.statusCode}`);
  return (performance.now() - started) / 1000;
}

function mib(kib: number): string {
  return (kib / 1024).toFixed(0);
}

const runStarted = performance.now();
const files = makeFiles(COUNT, BASE, 'f', 2000);
const warmupFiles = makeFiles(WARMUP, WARMUP_BASE, 'w', 1000);
const bytes = files.reduce((n, f) => n + f.body.length, 0);
process.stdout.write(
  `replay benchmark: ${COUNT} uploads (${(bytes / 2 ** 20).toFixed(1)} MiB) in ${FOLDERS} folders after ${WARMUP} unmeasured ` +
    `(${WARMUP > 0 ? WARMUP_ROUNDS : 0} outage${WARMUP > 0 && WARMUP_ROUNDS === 1 ? '' : 's'}), ` +
    `concurrency ${CONCURRENCY}, large upload ${BIG_MIB} MiB\n${scratchDisk()}`,
);

let apache: ApachePeer | undefined;
const scratch = await tempDir('vfs-relay-bench-replay-');
try {
  apache = await startApache();
  process.stdout.write('small files: journal with the peer down, then drain\n');
  const drain = await benchDrain(apache, files, warmupFiles, join(scratch.dir, 'journal-small'));
  process.stdout.write('small files: baseline PUT straight to Apache\n');
  const baseline = await benchBaseline(apache, files, warmupFiles, BASELINE);
  process.stdout.write(`  ${COUNT} PUTs in ${baseline.seconds.toFixed(2)} s\n`);
  process.stdout.write('small files: floor (each body read from a journal-like entry, PUT, entry removed)\n');
  const floor = await benchBaseline(apache, files, warmupFiles, FLOOR, join(scratch.dir, 'floor'));
  process.stdout.write(`  ${COUNT} PUTs in ${floor.seconds.toFixed(2)} s\n`);
  process.stdout.write(`large upload: ${BIG_MIB} MiB\n`);
  const big = await benchBig(apache, scratch.dir, join(scratch.dir, 'journal-big'));
  const bigBaselineSeconds = await benchBigBaseline(apache, big.file, big.size);

  const drainRate = COUNT / drain.seconds;
  const perFile = (seconds: number) => `${((1000 * seconds) / COUNT).toFixed(3)} ms`;
  const baselineRate = COUNT / baseline.seconds;
  const bigMib = big.size / 2 ** 20;
  process.stdout.write('\n');
  printTable([
    ['', 'files/s   seconds   p50 ms   p99 ms'],
    [
      'relay drain (journal → Apache)',
      `${drainRate.toFixed(0).padStart(7)}   ${drain.seconds.toFixed(2).padStart(7)}        -        -`,
    ],
    [
      'Apache WebDAV PUT (baseline)',
      `${baselineRate.toFixed(0).padStart(7)}   ${baseline.seconds.toFixed(2).padStart(7)}   ${percentile(baseline.latencies, 50).toFixed(1).padStart(6)}   ${percentile(baseline.latencies, 99).toFixed(1).padStart(6)}`,
    ],
    ['ratio drain / baseline', `${(drainRate / baselineRate).toFixed(2)}×`],
    [
      'CPU per file, drain',
      `relay ${perFile(drain.cpu)} (main thread ${perFile(drain.mainCpu)}; ${((100 * drain.cpu) / drain.seconds).toFixed(0)}% of one core), Apache ${perFile(drain.apacheCpu)}`,
    ],
    ['CPU per PUT, baseline', `client ${perFile(baseline.clientCpu)}, Apache ${perFile(baseline.apacheCpu)}`],
    ['relay CPU / client CPU per file', `${(drain.cpu / baseline.clientCpu).toFixed(2)}×`],
    [
      'floor: read + PUT + remove entry',
      `${(COUNT / floor.seconds).toFixed(0)} files/s; CPU per file client ${perFile(floor.clientCpu)}, Apache ${perFile(floor.apacheCpu)}`,
    ],
    [
      'floor CPU / client CPU; relay / floor',
      `${(floor.clientCpu / baseline.clientCpu).toFixed(2)}×; ${(drain.cpu / floor.clientCpu).toFixed(2)}×`,
    ],
    ['relay threads during the drain (CPU s)', drain.threads],
    [
      'journal fill, peer down (3 requests)',
      `${(COUNT / drain.fillSeconds).toFixed(0).padStart(7)}   ${drain.fillSeconds.toFixed(2).padStart(7)}   ${percentile(drain.fillLatencies, 50).toFixed(1).padStart(6)}   ${percentile(drain.fillLatencies, 99).toFixed(1).padStart(6)}`,
    ],
    ['CPU per upload, fill', `relay ${perFile(drain.fillCpu.all)} (main thread ${perFile(drain.fillCpu.main)})`],
    ['', ''],
    [
      `${bigMib} MiB upload: replay time`,
      `${big.seconds.toFixed(2)} s (${(bigMib / big.seconds).toFixed(0)} MiB/s); straight PUT to Apache ${bigBaselineSeconds.toFixed(2)} s (${(bigMib / bigBaselineSeconds).toFixed(0)} MiB/s)`,
    ],
    [
      'relay CPU during the replay',
      `${big.cpu.toFixed(2)} s (${((100 * big.cpu) / big.seconds).toFixed(0)}% of one core)`,
    ],
    [
      `${bigMib} MiB upload: relay peak RSS`,
      `${mib(big.peakRssKiB)} MiB sampled VmRSS (${big.samples} samples / ${RSS_POLL_MS} ms), ` +
        `${mib(big.hwmKiB)} MiB VmHWM ${big.hwmReset ? 'during replay' : 'lifetime (reset refused)'}; ` +
        `idle before replay ${mib(big.idleRssKiB)} MiB`,
    ],
    [
      `${bigMib} MiB upload: relay ingest`,
      `${big.ingestSeconds.toFixed(2)} s (${(bigMib / big.ingestSeconds).toFixed(0)} MiB/s), VmHWM ${mib(big.ingestHwmKiB)} MiB`,
    ],
  ]);
} finally {
  const cleanup = performance.now();
  await apache?.close();
  await scratch.remove();
  process.stdout.write(
    `\nrun time ${((performance.now() - runStarted) / 1000).toFixed(1)} s ` +
      `(clean-up ${((performance.now() - cleanup) / 1000).toFixed(1)} s; since process start ${(performance.now() / 1000).toFixed(1)} s)\n`,
  );
}
