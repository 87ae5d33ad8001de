// Child for wal-torn-purge.test.ts: a log write of a >64 KiB record that the thread pool has not done yet (stalled,
// as under dirty-page throttling or a busy pool), while the replayer purges A, a checkpoint switches segments,
// and the replayer purges B. Prints READY with the refs, then waits to be SIGKILLed.
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { FsJournalStore, WAL_DIR } from '../../src/adapters/fs-journal/store.js';
import type { JournalEntry } from '../../src/core/entry.js';
import { laneId } from '../../src/core/lane.js';
import { StampClock } from '../../src/core/stamp.js';

const root = process.argv[2]!;
const clock = new StampClock();
const lane = laneId('/user_homes', 'server2');
const mk = (o: Partial<JournalEntry>): JournalEntry => ({
  id: clock.next(),
  lane,
  peer: 'server2',
  location: '/user_homes',
  action: 'makedir',
  path: '/user_homes/x',
  createdAt: new Date().toISOString(),
  status: 'PENDING',
  attempts: 0,
  ...o,
});
const digestOf = (b: Buffer) => ({ size: b.length, sha256: createHash('sha256').update(b).digest('hex') });

const store = await FsJournalStore.open(root, () => {}, { checkpointIntervalMs: 3_600_000 });
const old = Buffer.from('old content');
const A = mk({ action: 'upload', path: '/user_homes/x.txt', size: old.length, sha256: digestOf(old).sha256 });
const B = mk({ action: 'delete', path: '/user_homes/x.txt' });
await store.createWithBody([A], old, digestOf(old)); // acknowledged
await store.create([B]); // acknowledged

// From here on, FileHandle.writev (used for log records over 64 KiB) does not complete.
const probe = await open(join(root, 'probe'), 'w');
const proto = Object.getPrototypeOf(probe) as { writev: (...a: unknown[]) => Promise<unknown> };
await probe.close();
proto.writev = () => new Promise(() => {});

const big = Buffer.alloc(100 * 1024, 0x62);
const C = mk({ action: 'upload', path: '/user_homes/other.bin', size: big.length });
void store.createWithBody([C], big, digestOf(big)).catch(() => {}); // in flight, never acknowledged
await new Promise((r) => setTimeout(r, 20)); // its record is appended (ensureLaneDir first)

await store.purge(A); // A applied on the peer: purge logged (after C's record, in segment 1)
void store.checkpoint().catch(() => {}); // the 1 s timer: switches to segment 2, then waits for C's write
while (readdirSync(join(root, WAL_DIR)).filter((n) => n.endsWith('.wal')).length < 2) {
  await new Promise((r) => setTimeout(r, 5));
}
await new Promise((r) => setTimeout(r, 50)); // the switch is done (new segment opened and its folder synced)
await store.purge(B); // B (delete of the same path) applied on the peer after A: purge logged in segment 2
await new Promise((r) => setTimeout(r, 100)); // the I/O thread removes B's folder
process.stdout.write(`READY ${JSON.stringify({ A, B })}\n`);
process.stdin.resume();
