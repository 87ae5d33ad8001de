// npm run bench:backlog [-- --count N]
// What the operator's reads and the replayer's sweep cost on a long backlog: one lane of N PENDING entries (default
// 100,000 and 1,000,000) in the file journal's in-memory index — the part these operations touch; none of them
// reads the disk — read through the store methods the file journal has (lanes, list, read, summary, scan). Each is
// timed on the main thread (ms per call, median of several) with nothing stuck, again with a CONFLICT at the
// front of the lane, and with a folder delete parked there that one entry in 20 waits behind. While one of these runs, the relay does nothing else: ingest and replay wait. Then
// what replaying the rest of a lane costs per file while a folder delete with 10,000 or 100,000 entries below it
// waits at its front (parked, in flight, or backing off after a failure). Last, how long
// the file journal takes to open (start-up: every entry read back from disk) with `--on-disk N` entries (20,000).
import { parseArgs } from 'node:util';
import { MemoryIndex } from '../../src/adapters/fs-journal/memory-index.js';
import { FsJournalStore } from '../../src/adapters/fs-journal/store.js';
import type { EntryRef, JournalEntry } from '../../src/core/entry.js';
import type { JournalStore, ListOptions } from '../../src/core/journal.js';
import { JournalView } from '../../src/core/journal-view.js';
import { silentLogger } from '../../src/core/logger.js';
import type { Peer, ReplayOutcome } from '../../src/core/peer.js';
import { PeerHealth } from '../../src/core/peer-health.js';
import { Replayer } from '../../src/core/replayer.js';
import { StampClock } from '../../src/core/stamp.js';
import { tempDir } from '../support/tmp.js';
import { printTable } from './stats.js';

const { values } = parseArgs({
  options: { count: { type: 'string', multiple: true }, 'on-disk': { type: 'string', default: '20000' } },
});
const COUNTS = (values.count ?? ['100000', '1000000']).map(Number);
const ON_DISK = Number(values['on-disk']);
const LANE = '00000000000000aa';

function storeOver(index: MemoryIndex): JournalStore {
  // As FsJournalStore answers them: copies out of the index, except the copy-free scan.
  return {
    lanes: async () => index.lanes(),
    list: async (lane: string, options?: ListOptions) => index.list(lane, options),
    read: async (ref: EntryRef) => {
      const entry = index.get(ref);
      return entry && { ...entry };
    },
    // Feature-tested, so that this file also measures versions from before these methods (the walk for all).
    ...('summary' in index && {
      summary: (lane: string) => index.summary(lane),
      scan: (lane: string) => index.scan(lane),
    }),
  } as unknown as JournalStore;
}

function idOf(n: number): string {
  return `20261206T000000${String(n).padStart(9, '0')}`;
}

function fill(count: number): MemoryIndex {
  const index = new MemoryIndex();
  const start = Date.UTC(2026, 11, 6);
  for (let n = 0; n < count; n++) {
    index.set({
      id: idOf(n),
      lane: LANE,
      peer: 'server2',
      location: '/user_homes',
      action: 'upload',
      path: `/user_homes/d${n % 20}/f${n}.bin`,
      size: 1024 + (n % 65_536),
      createdAt: new Date(start + n).toISOString(),
      attempts: 0,
      status: 'PENDING',
    } as JournalEntry);
  }
  return index;
}

/** Median ms per call of `runs` calls, after one unmeasured. */
async function time(runs: number, task: () => Promise<unknown>): Promise<string> {
  await task();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await task();
    ms.push(performance.now() - started);
  }
  ms.sort((a, b) => a - b);
  return ms[Math.floor(ms.length / 2)]!.toFixed(3);
}

for (const count of COUNTS) {
  const index = fill(count);
  const store = storeOver(index);
  const view = new JournalView(store);
  const health = { onChange() {}, current: () => 'OFFLINE' } as unknown as PeerHealth; // nothing is sent
  const replayer = new Replayer({ store, peers: new Map(), health, logger: silentLogger });
  const runs = count > 200_000 ? 5 : 15;
  const rows: [string, string][] = [];
  const started = performance.now();
  await replayer.sweep();
  rows.push(['replayer sweep, first (start-up)', `${(performance.now() - started).toFixed(1)} ms`]);
  for (const stuck of ['none', 'file', 'folder'] as const) {
    const front = index.get({ lane: LANE, id: idOf(0) })!;
    if (stuck === 'file') index.set({ ...front, status: 'CONFLICT' });
    // A folder delete parked at the front: the lane's files in that folder (one in 20) wait behind it.
    if (stuck === 'folder') index.set({ ...front, action: 'delete', path: '/user_homes/d0', status: 'CONFLICT' });
    const label = {
      none: 'all PENDING',
      file: 'CONFLICT at the front',
      folder: 'a folder delete parked at the front, 5% behind it',
    }[stuck];
    rows.push([`backlog per peer (GET /v1/peers, metrics), ${label}`, `${await time(runs, () => view.backlog())} ms`]);
    if (stuck !== 'none') {
      // A new entry between two calls: the lane's figures cannot be kept, it is walked again.
      let added = count;
      rows.push([
        `… after a new entry each time, ${label}`,
        `${await time(runs, () => {
          const n = added++;
          index.set({ ...front, id: idOf(n), path: `/user_homes/new/f${n}.bin`, status: 'PENDING' });
          return view.backlog();
        })} ms`,
      ]);
      for (let n = count; n < added; n++) index.delete({ lane: LANE, id: idOf(n) });
    }
    rows.push([
      `GET /v1/changes?limit=100, ${label}`,
      `${await time(runs, () => view.listChanges({ limit: 100 }))} ms`,
    ]);
    rows.push([
      `GET /v1/changes/{newest id}, ${label}`,
      `${await time(runs, () => view.getChange(idOf(count - 1)))} ms`,
    ]);
    rows.push([`replayer sweep (each ping tick), ${label}`, `${await time(runs, () => replayer.sweep())} ms`]);
  }
  // One entry added and one purged behind the replayer's back (a lost ring): the sweep compares the lane.
  let n = count;
  rows.push([
    'replayer sweep after an entry came and one went unrung',
    `${await time(runs, async () => {
      index.set({ ...index.get({ lane: LANE, id: idOf(1) })!, id: idOf(n++) });
      index.delete({ lane: LANE, id: idOf(n - count + 1) });
      await replayer.sweep();
    })} ms`,
  ]);
  process.stdout.write(`\n${count.toLocaleString('en')} entries in one lane (median of ${runs} calls)\n`);
  printTable(rows);
  await replayer.stop();
}

/**
 * The replayer over the index (instant peer, nothing on disk): a lane whose oldest entry is a delete of a folder
 * with `held` entries below it (they wait behind it), then 3,000 files elsewhere, replayed while that delete is
 * parked, in flight (the peer holds it), or waiting to be tried again (the peer answered it 500 while applying
 * the rest). Returns the CPU per replayed other file, in ms (main thread: nothing else runs here).
 */
async function replayBehind(front: 'none' | 'parked' | 'in flight' | 'backing off', held: number): Promise<string> {
  const OTHERS = 3000;
  const index = new MemoryIndex();
  const entries: JournalEntry[] = [];
  const base = { lane: LANE, peer: 'server2', location: '/user_homes', attempts: 0, status: 'PENDING' as const };
  const at = (n: number) => new Date(Date.UTC(2026, 11, 6) + n).toISOString();
  entries.push({ ...base, id: idOf(0), action: 'delete', path: '/user_homes/d0', createdAt: at(0) });
  for (let n = 1; n <= held; n++) {
    entries.push({ ...base, id: idOf(n), action: 'makedir', path: `/user_homes/d0/f${n}`, createdAt: at(n) });
  }
  for (let n = held + 1; n <= held + OTHERS; n++) {
    const path = `/user_homes/d${1 + (n % 19)}/f${n}`;
    entries.push({ ...base, id: idOf(n), action: 'makedir', path, createdAt: at(n) });
  }
  if (front === 'none') entries.splice(0, held + 1);
  if (front === 'parked') entries[0] = { ...entries[0]!, status: 'CONFLICT' };
  for (const e of entries) index.set(e);
  const store = {
    ...storeOver(index),
    update: async (e: JournalEntry) => index.set(e),
    purge: async (ref: EntryRef) => index.delete(ref),
  } as unknown as JournalStore;
  let applied = 0;
  let answerDelete: () => void = () => {};
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  const peer: Peer = {
    name: 'server2',
    probe: async () => ({ kind: 'applied' }),
    apply: async (e) => {
      if (e.path === '/user_homes/d0') {
        const refused: ReplayOutcome = { kind: 'offline', reason: 'HTTP 500', status: 500 };
        if (front !== 'in flight') return refused;
        return new Promise<ReplayOutcome>((resolve) => {
          answerDelete = () => resolve(refused); // at the end
        });
      }
      if (++applied === OTHERS) done();
      return { kind: 'applied' };
    },
    close: async () => {},
  };
  const peers = new Map([['server2', peer]]);
  const health = new PeerHealth(peers, silentLogger);
  // A failed delete waits a minute before its next try: all of this bench happens while it waits.
  const replayer = new Replayer({ store, peers, health, logger: silentLogger, retryBaseMs: 60_000, maxRepeats: 1000 });
  const cpu = process.cpuUsage();
  await replayer.sweep();
  await finished;
  const used = process.cpuUsage(cpu);
  answerDelete();
  await replayer.stop();
  health.close();
  return ((used.user + used.system) / 1000 / OTHERS).toFixed(3);
}

{
  const rows: [string, string][] = [];
  for (const held of [10_000, 100_000]) {
    for (const front of ['parked', 'in flight', 'backing off'] as const) {
      rows.push([`${front}, ${held.toLocaleString('en')} entries below it`, `${await replayBehind(front, held)} ms`]);
    }
  }
  rows.push(['nothing at the front', `${await replayBehind('none', 0)} ms`]);
  process.stdout.write('\nreplaying 3,000 other files of a lane behind a folder delete at its front: CPU per file\n');
  printTable(rows);
}

if (ON_DISK > 0) {
  const tmp = await tempDir();
  const store = await FsJournalStore.open(tmp.dir);
  const clock = new StampClock();
  const created = performance.now();
  for (let n = 0; n < ON_DISK; n += 500) {
    const batch = Array.from({ length: Math.min(500, ON_DISK - n) }, (_, i) => ({
      id: clock.next(),
      lane: LANE,
      peer: 'server2',
      location: '/user_homes',
      action: 'makedir' as const,
      path: `/user_homes/d${(n + i) % 20}/f${n + i}`,
      createdAt: new Date().toISOString(),
      attempts: 0,
      status: 'PENDING' as const,
    }));
    await store.create(batch);
  }
  await store.close();
  const createdMs = performance.now() - created;
  const opens: string[] = [];
  for (let i = 0; i < 2; i++) {
    const started = performance.now();
    const again = await FsJournalStore.open(tmp.dir);
    opens.push(((performance.now() - started) / 1000).toFixed(2));
    await again.close();
  }
  process.stdout.write(
    `\n${ON_DISK.toLocaleString('en')} entries on disk (created in ${(createdMs / 1000).toFixed(1)} s)\n`,
  );
  printTable([['opening the file journal (start-up), twice', `${opens.join(' s, ')} s`]]);
  await tmp.remove();
}
