// npm run bench:resync [-- --files N --folders F --concurrency C --verify-entries V]
// Resync: a source Apache with N files of 1–64 KiB in F folders (default 20,000 in 200) and an empty peer Apache;
// a relay (its own process) resyncs the peer from the source. Next to it, in the same run, the bench copies the
// same tree itself, rclone-style — PROPFIND each folder, MKCOL it, GET → PUT each file, C requests in flight — into
// a third Apache. Prints items/s and MB/s of both and the relay's peak RSS.
// Verify: source and peer each holding V entries (default 100,000: files of a few bytes in folders of 100, same
// times on both sides), a fresh relay verifies them; prints entries/s and its peak RSS (target < 256 MB).
// Figures only; a tree that does not match after the resync throws. BENCH_NO_MTIME=1: the peer gets
// `setModifiedTime: false` (no PROPPATCH after each copy); BENCH_TRACE=1 prints the job's counts as it polls.
import { readFileSync } from 'node:fs';
import { chown, mkdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { type ApachePeer, peerConfig, startApache } from '../support/apache.js';
import { type Child, spawnTs } from '../support/child.js';
import { tempDir } from '../support/tmp.js';
import { printTable, runPool, seeded } from './stats.js';

const { values } = parseArgs({
  options: {
    files: { type: 'string', default: '20000' },
    folders: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '8' },
    'verify-entries': { type: 'string', default: '100000' },
  },
});
const FILES = positiveInt('files', values.files);
const FOLDERS = positiveInt('folders', values.folders);
const CONCURRENCY = positiveInt('concurrency', values.concurrency);
const VERIFY_ENTRIES = positiveInt('verify-entries', values['verify-entries']);

const ADMIN_TOKEN = 'bench-admin-token-0123456789';
const CHILD_SCRIPT = fileURLToPath(new URL('../support/crash-child.ts', import.meta.url));
const TIMES = new Date('2024-03-01T10:00:00Z');
const PER_VERIFY_FOLDER = 100;

function positiveInt(name: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${value}`);
  return n;
}

/** Writes `count` files of 1–64 KiB (seeded sizes, random-ish content) into `folders` folders on the server's disk. */
async function populate(server: ApachePeer, base: string, count: number, folders: number, sizes: () => number) {
  const { uid, gid } = await stat(server.root);
  let bytes = 0;
  const block = Buffer.alloc(64 * 1024);
  for (let i = 0; i < block.length; i++) block[i] = (i * 131 + 7) & 0xff;
  for (let f = 0; f < folders; f++) {
    const dir = join(server.root, base, `d${String(f).padStart(4, '0')}`);
    await mkdir(dir, { recursive: true });
    await chown(dir, uid, gid);
  }
  await chown(join(server.root, base), uid, gid);
  for (let i = 0; i < count; i++) {
    const size = sizes();
    const file = join(server.root, base, `d${String(i % folders).padStart(4, '0')}`, `f${i}.bin`);
    const body = Buffer.from(block.subarray(0, size));
    body.writeUInt32BE(i, 0);
    await writeFile(file, body);
    await chown(file, uid, gid);
    await utimes(file, TIMES, TIMES);
    bytes += size;
  }
  return bytes;
}

function authorization(server: ApachePeer): string {
  return `Basic ${Buffer.from(`${server.username}:${server.password}`).toString('base64')}`;
}

/** The baseline: what a copy tool does without a relay — list, make folders, GET → PUT, C requests in flight. */
async function directCopy(
  source: ApachePeer,
  target: ApachePeer,
  base: string,
): Promise<{ items: number; ms: number }> {
  const from = new Pool(source.url.replace(/\/$/, ''), { connections: CONCURRENCY });
  const to = new Pool(target.url.replace(/\/$/, ''), { connections: CONCURRENCY });
  const fromAuth = { authorization: authorization(source) };
  const toAuth = { authorization: authorization(target) };
  const started = performance.now();
  const root = await from.request({ method: 'PROPFIND', path: `/${base}/`, headers: { ...fromAuth, depth: '1' } });
  const folders = [...(await root.body.text()).matchAll(/<D:href>([^<]+)<\/D:href>/g)]
    .map((m) => m[1]!)
    .filter((href) => href !== `/${base}/`);
  await (await to.request({ method: 'MKCOL', path: `/${base}/`, headers: toAuth })).body.dump();
  let items = 1;
  await runPool(folders, CONCURRENCY, async (folder) => {
    const listing = await from.request({ method: 'PROPFIND', path: folder, headers: { ...fromAuth, depth: '1' } });
    const files = [...(await listing.body.text()).matchAll(/<D:href>([^<]+)<\/D:href>/g)]
      .map((m) => m[1]!)
      .filter((href) => href !== folder);
    await (await to.request({ method: 'MKCOL', path: folder, headers: toAuth })).body.dump();
    items += 1;
    // The folder's files with the same concurrency (folders are taken one per worker, files in parallel inside).
    await runPool(files, 1, async (path) => {
      const got = await from.request({ method: 'GET', path, headers: fromAuth });
      const length = got.headers['content-length'] as string;
      const put = await to.request({
        method: 'PUT',
        path,
        headers: { ...toAuth, 'content-length': length },
        body: got.body,
      });
      await put.body.dump();
      if (put.statusCode >= 300) throw new Error(`PUT ${path}: ${put.statusCode}`);
      items += 1;
    });
  });
  const ms = performance.now() - started;
  await from.close();
  await to.close();
  return { items, ms };
}

async function relay(journal: string, source: ApachePeer, peer: ApachePeer): Promise<Child> {
  return spawnTs(CHILD_SCRIPT, [
    journal,
    JSON.stringify({
      vfs: [{ path: '/user_homes' }],
      peers: [{ ...peerConfig(peer, 'peer'), setModifiedTime: !process.env.BENCH_NO_MTIME }],
      sources: [{ name: 'source', url: source.url, username: source.username, password: source.password }],
      auth: { adminToken: ADMIN_TOKEN },
      replay: { concurrency: CONCURRENCY },
    }),
  ]);
}

async function runJob(url: string, kind: 'verify' | 'resync'): Promise<{ ms: number; job: Record<string, unknown> }> {
  const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
  const started = performance.now();
  const res = await fetch(`${url}/v1/peers/peer/${kind}`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ from: 'source', path: '/user_homes' }),
  });
  const { id } = (await res.json()) as { id: string };
  for (;;) {
    const job = (await (await fetch(`${url}/v1/jobs/${id}`, { headers })).json()) as { status: string };
    if (process.env.BENCH_TRACE)
      process.stderr.write(
        `${Math.round(performance.now() - started)} ${JSON.stringify((job as { counts?: unknown }).counts)}\n`,
      );
    if (job.status !== 'RUNNING') return { ms: performance.now() - started, job };
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Peak resident memory (VmHWM) of a process, in MiB. */
function peakMiB(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

async function stop(child: Child): Promise<void> {
  child.process.kill('SIGTERM');
  await child.exited;
}

async function resyncBench(): Promise<void> {
  const source = await startApache();
  const peer = await startApache();
  const direct = await startApache();
  const tmp = await tempDir();
  try {
    const rand = seeded(7);
    const bytes = await populate(source, 'user_homes', FILES, FOLDERS, () => 1024 + Math.floor(rand() * 63 * 1024));
    const items = FILES + FOLDERS + 1;
    process.stdout.write(`resync: ${FILES} files (${(bytes / 2 ** 20).toFixed(1)} MiB) in ${FOLDERS} folders\n`);

    const baseline = await directCopy(source, direct, 'user_homes');
    const child = await relay(tmp.dir, source, peer);
    const { ms, job } = await runJob(child.ready, 'resync');
    const peak = peakMiB(child.process.pid!);
    await stop(child);
    if ((job as { status: string }).status !== 'DONE') throw new Error(`resync ended ${JSON.stringify(job)}`);
    const [want, got] = [await source.tree(), await peer.tree()];
    if (JSON.stringify([...want]) !== JSON.stringify([...got])) throw new Error('the peer does not match the source');
    const rate = (n: number, t: number) => (n / (t / 1000)).toFixed(0);
    const mbs = (t: number) => (bytes / 2 ** 20 / (t / 1000)).toFixed(1);
    printTable([
      [
        'relay resync',
        `${rate(items, ms)} items/s  ${mbs(ms)} MiB/s  ${(ms / 1000).toFixed(1)} s  peak RSS ${peak.toFixed(0)} MiB`,
      ],
      [
        'direct GET → PUT',
        `${rate(baseline.items, baseline.ms)} items/s  ${mbs(baseline.ms)} MiB/s  ${(baseline.ms / 1000).toFixed(1)} s`,
      ],
      ['ratio', `${(baseline.ms / ms).toFixed(2)}×`],
    ]);
  } finally {
    await Promise.all([source.close(), peer.close(), direct.close(), tmp.remove()]);
  }
}

async function verifyBench(): Promise<void> {
  const source = await startApache();
  const peer = await startApache();
  const tmp = await tempDir();
  try {
    const folders = Math.ceil(VERIFY_ENTRIES / (PER_VERIFY_FOLDER + 1));
    const files = VERIFY_ENTRIES - folders;
    for (const server of [source, peer]) await populate(server, 'user_homes', files, folders, () => 16);
    process.stdout.write(`verify: ${files} files in ${folders} folders on both sides\n`);
    const child = await relay(tmp.dir, source, peer);
    const { ms, job } = await runJob(child.ready, 'verify');
    const peak = peakMiB(child.process.pid!);
    await stop(child);
    const counts = (job as { counts: { scanned: number; same: number } }).counts;
    if (counts.same !== counts.scanned || counts.scanned < VERIFY_ENTRIES) {
      throw new Error(`verify found differences: ${JSON.stringify(job)}`);
    }
    printTable([
      [
        'relay verify',
        `${counts.scanned} entries  ${(counts.scanned / (ms / 1000)).toFixed(0)} entries/s  ${(ms / 1000).toFixed(1)} s`,
      ],
      ['peak RSS', `${peak.toFixed(0)} MiB (target < 256 MiB)`],
    ]);
  } finally {
    await Promise.all([source.close(), peer.close(), tmp.remove()]);
  }
}

await resyncBench();
await verifyBench();
