// npm run bench:e2e [-- --count N --modified-time --watcher folders|chokidar]
// Agent → relay → Apache on loopback, each in its own process: copies N small files into the watched folder and
// reports, per file, the time from its close to its arrival on the peer (Apache's receive time of the PUT), and
// the total time until the peer's tree is complete. The peer is configured as README recommends for Apache
// (`setModifiedTime: false`: mod_dav_fs does not apply modified times); --modified-time sends them anyway (one
// PROPPATCH after each PUT).
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { peerConfig, startApache } from '../support/apache.js';
import { spawnTs } from '../support/child.js';
import { waitFor } from '../support/node-client.js';
import { NODE_A_TOKEN } from '../support/relay.js';
import { tempDir } from '../support/tmp.js';
import { percentile, printTable, seeded } from './stats.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '1000' },
    'modified-time': { type: 'boolean', default: false },
    watcher: { type: 'string' },
  },
});
const COUNT = Number(values.count);

const apache = await startApache();
const tmp = await tempDir();
const watched = join(tmp.dir, 'watched');
await mkdir(watched);
const relay = await spawnTs(fileURLToPath(new URL('../support/crash-child.ts', import.meta.url)), [
  join(tmp.dir, 'journal'),
  JSON.stringify({
    peers: [{ ...peerConfig(apache, 'apache'), setModifiedTime: values['modified-time'] }],
    vfs: [{ path: '/user_homes', replicate: true }],
    auth: { adminToken: 'bench-admin-token-0123456789', nodeTokens: { node: NODE_A_TOKEN } },
  }),
]);
const agent = await spawnTs(fileURLToPath(new URL('../support/agent-child.ts', import.meta.url)), [
  JSON.stringify({
    relay: relay.ready,
    token: NODE_A_TOKEN,
    vfs: '/user_homes/',
    watch: watched,
    state: join(tmp.dir, 'agent-state'),
    watcher: values.watcher,
  }),
]);
try {
  const random = seeded(9);
  const closedAt = new Map<string, number>();
  const hashes = new Map<string, string>();
  const started = Date.now();
  for (let i = 0; i < COUNT; i++) {
    const name = `f${String(i).padStart(5, '0')}.bin`;
    const body = randomBytes(1024 + Math.floor(random() * 15 * 1024));
    await writeFile(join(watched, name), body);
    closedAt.set(`/user_homes/${name}`, Date.now());
    hashes.set(`/user_homes/${name}`, createHash('sha256').update(body).digest('hex'));
  }
  const copied = Date.now();
  // Counting names is cheap; hashing the peer's tree at every poll would take CPU from the pipeline measured.
  const arrived = async () => (await readdir(join(apache.root, 'user_homes')).catch(() => [])).length;
  await waitFor(
    async () => (await arrived()) >= COUNT,
    5 * 60_000,
    async () => `${await arrived()} of ${COUNT} files on the peer`,
  );
  const complete = Date.now();
  const tree = await apache.tree();
  const missing = [...closedAt.keys()].filter((path) => tree.get(path.slice(1)) !== hashes.get(path));
  if (missing.length > 0) throw new Error(`${missing.length} files missing or different on the peer: ${missing[0]}`);
  const arrivals = new Map<string, number>();
  for (const r of await apache.requests()) {
    if (r.method === 'PUT' && r.status < 300 && !arrivals.has(r.path)) arrivals.set(r.path, r.receivedUs / 1000);
  }
  const latencies = [...closedAt]
    .map(([path, closed]) => (arrivals.get(path) ?? Number.NaN) - closed)
    .sort((a, b) => a - b);
  process.stdout.write(
    `e2e benchmark: ${COUNT} files of 1–16 KiB copied into the watched folder (agent, relay, Apache: 3 processes; ` +
      `modified times ${values['modified-time'] ? 'sent' : 'not sent'})\n`,
  );
  printTable([
    ['close → arrival on the peer, p50', `${percentile(latencies, 50).toFixed(0)} ms`],
    ['close → arrival on the peer, p99', `${percentile(latencies, 99).toFixed(0)} ms`],
    ['close → arrival on the peer, max', `${latencies[latencies.length - 1]!.toFixed(0)} ms`],
    ['copying the files took', `${copied - started} ms`],
    ['until the peer tree was complete', `${complete - started} ms`],
  ]);
} finally {
  for (const child of [agent, relay]) {
    child.process.kill('SIGTERM');
    await child.exited;
  }
  await apache.close();
  await tmp.remove();
}
