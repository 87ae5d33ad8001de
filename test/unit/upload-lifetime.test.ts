import { afterEach, expect, it } from 'vitest';
import { FsJournalStore } from '../../src/adapters/fs-journal/store.js';
import type { EntryRef } from '../../src/core/entry.js';
import { ChangeIntake } from '../../src/core/intake.js';
import { silentLogger } from '../../src/core/logger.js';
import { StampClock } from '../../src/core/stamp.js';
import { Topology } from '../../src/core/topology.js';
import { UploadExpiry } from '../../src/core/upload-expiry.js';
import { tempDir } from '../support/tmp.js';

/**
 * The upload lifetime (limits.uploadMaxLifetimeSeconds) at the intake: what the embedded relay's timer and the cloud
 * sweep drop, and what a body that arrives past it is told. A controlled clock; bodies that wait for the test.
 */

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(lifetimeSeconds: number) {
  const tmp = await tempDir();
  const store = await FsJournalStore.open(tmp.dir, () => {});
  cleanups.push(async () => {
    await store.close();
    await tmp.remove();
  });
  const clock = { now: Date.parse('2026-12-01T10:00:00Z') };
  const rung: EntryRef[][] = [];
  const warned: string[] = [];
  const intake = new ChangeIntake({
    store,
    doorbell: {
      ring: async (entries) => {
        rung.push([...entries]);
      },
    },
    clock: new StampClock(),
    replicationUser: 'replication',
    topology: new Topology([{ path: '/user_homes', replicate: true }], [{ name: 'server2' }]),
    now: () => new Date(clock.now),
    uploadLifetimeSeconds: lifetimeSeconds,
  });
  const expiry = new UploadExpiry({
    intake,
    idleSeconds: 3600,
    lifetimeSeconds,
    now: () => clock.now,
    logger: { ...silentLogger, warn: (message: string) => void warned.push(message) },
  });
  return { store, clock, intake, expiry, rung, warned };
}

/** 10 bytes, then the rest only once released (never, if it is not). */
function waitingBody(rest: number) {
  let release!: () => void;
  const go = new Promise<void>((resolve) => {
    release = resolve;
  });
  async function* body() {
    yield new Uint8Array(10);
    await go;
    if (rest > 0) yield new Uint8Array(rest);
  }
  return { body: body(), release };
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !condition(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(condition()).toBe(true);
}

it('the cloud sweep (expireFound) looks at uploads older than the lifetime when it is shorter than the idle time', async () => {
  const { clock, intake, expiry } = await setup(60);
  const opened = await intake.submit({ action: 'upload', path: '/user_homes/a/f.bin', size: 10 }, 'a');
  if (!opened.journaled) throw new Error('not journaled');
  clock.now += 59_000;
  expect(await expiry.expireFound(opened.entries)).toBe(0);
  clock.now += 1_000; // the lifetime, well within the idle time (an hour)
  expect(await expiry.expireFound(opened.entries)).toBe(1);
});

it('a body PUT that waited for the lock past the lifetime is refused 410 UPLOAD_EXPIRED, not taken', async () => {
  const { clock, intake, expiry } = await setup(100);
  const opened = await intake.submit({ action: 'upload', path: '/user_homes/a/f.bin', size: 1000 }, 'a');
  if (!opened.journaled) throw new Error('not journaled');
  const first = waitingBody(990); // never finishes
  const receiving = intake.writeBody(opened.id, first.body, 'a');
  receiving.catch(() => {});
  await until(() => intake.ledger.isReceiving(opened.id));
  const second = waitingBody(990);
  const queued = intake.writeBody(opened.id, second.body, 'a'); // waits for the change's lock
  queued.catch(() => {});

  clock.now += 101_000;
  const sweep = expiry.expireKnown();
  await expect(receiving).rejects.toMatchObject({ code: 'UPLOAD_EXPIRED' });
  await expect(queued).rejects.toMatchObject({ code: 'UPLOAD_EXPIRED' }); // before a byte of it is read
  expect(await sweep).toBe(1);
  second.release();
});

it('a one-request upload cut off by the lifetime is dropped by the expiry: counted, logged, and rung', async () => {
  const { store, clock, intake, expiry, rung, warned } = await setup(100);
  const size = 1 << 20; // streamed to the journal like a three-step upload (over SMALL_BODY_BYTES)
  const body = waitingBody(size - 10);
  const upload = intake.uploadInOne({ action: 'upload', path: '/user_homes/a/f.bin', size }, body.body, 'a');
  upload.catch(() => {});
  await until(() => intake.ledger.ids().some((id) => intake.ledger.isReceiving(id)));
  const [id] = intake.ledger.ids();
  clock.now += 101_000;
  expect(await expiry.expireKnown()).toBe(1);
  await expect(upload).rejects.toMatchObject({ code: 'UPLOAD_EXPIRED' });
  expect(warned).toContain('upload expired: older than its lifetime');
  expect(rung.flat().map((e) => e.id)).toContain(id);
  expect(await store.list((await store.lanes())[0]!)).toEqual([]);
});

it('a one-request upload whose client goes away leaves nothing, and what waited behind it is rung at once', async () => {
  const { store, intake, rung } = await setup(3600);
  const size = 1 << 20;
  async function* cut() {
    yield new Uint8Array(10);
    throw new Error('client went away');
  }
  await expect(intake.uploadInOne({ action: 'upload', path: '/user_homes/a/g.bin', size }, cut(), 'a')).rejects.toThrow(
    'client went away',
  );
  expect(await store.list((await store.lanes())[0]!)).toEqual([]);
  expect(rung.flat().length).toBeGreaterThan(0); // the dropped upload's entries: the replayer forgets them
});
