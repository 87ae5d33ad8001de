import { afterEach, expect, it } from 'vitest';
import { FsJournalStore } from '../../src/adapters/fs-journal/store.js';
import type { EntryRef, JournalEntry } from '../../src/core/entry.js';
import { ChangeIntake } from '../../src/core/intake.js';
import { StampClock } from '../../src/core/stamp.js';
import { StampOrder } from '../../src/core/stamp-order.js';
import { Topology } from '../../src/core/topology.js';
import { tempDir } from '../support/tmp.js';

/**
 * Rings in the order of the ids (src/core/stamp-order.ts): two changes to one path taken at the same moment reach
 * the replayer older first, whichever finished journaling first. Stores held by the test, no clocks.
 */

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

it('delivers in the order the ids were opened, each once every older one has settled', async () => {
  const order = new StampOrder();
  const delivered: string[] = [];
  for (const id of ['a', 'b', 'c', 'd']) order.opened(id);
  const deliver = (id: string) => async () => void delivered.push(id);
  const c = order.settle('c', deliver('c'));
  const b = order.settle('b'); // not journaled after all: nothing to deliver, but it no longer holds c back
  await Promise.resolve();
  expect(delivered).toEqual([]); // a is still open
  await order.settle('a', deliver('a'));
  await Promise.all([b, c]);
  expect(delivered).toEqual(['a', 'c']);
  const failing = order.settle('d', async () => {
    throw new Error('ring failed');
  });
  await expect(failing).rejects.toThrow('ring failed');
  expect(order.size).toBe(0);
  await order.settle('unknown', deliver('unknown')); // never opened: delivered at once
  expect(delivered).toEqual(['a', 'c', 'unknown']);
});

/** A journal whose create of the change at `path` waits until released (or fails, if told to). */
async function heldStore(path: string) {
  const tmp = await tempDir();
  const store = await FsJournalStore.open(tmp.dir);
  cleanups.push(async () => {
    await store.close();
    await tmp.remove();
  });
  let release: (fail?: Error) => void = () => {};
  const gate = new Promise<Error | undefined>((resolve) => {
    release = resolve;
  });
  const create = store.create.bind(store);
  store.create = async (entries: readonly JournalEntry[], options?: { durable?: boolean }) => {
    if (entries[0]?.path === path) {
      const failure = await gate;
      if (failure) throw failure;
    }
    return create(entries, options);
  };
  return { store, release };
}

function intakeOn(store: FsJournalStore, rung: string[]) {
  return new ChangeIntake({
    store,
    doorbell: {
      ring: async (refs: readonly EntryRef[]) => {
        for (const ref of refs) rung.push(ref.id);
      },
    },
    clock: new StampClock(),
    topology: new Topology([{ path: '/user_homes', replicate: true }], [{ name: 'server2' }]),
    replicationUser: 'replication',
    ringInIdOrder: true,
  });
}

it('rings the older change first when the newer one is journaled before it', async () => {
  const { store, release } = await heldStore('/user_homes/x');
  const rung: string[] = [];
  const intake = intakeOn(store, rung);
  const older = intake.submit({ action: 'delete', path: '/user_homes/x' }, 'node-a'); // its create waits
  const newer = intake.submit({ action: 'makedir', path: '/user_homes/x/new' }, 'node-b');
  let newerAnswered = false;
  void newer.then(() => {
    newerAnswered = true;
  });
  // The newer change is journaled; its ring waits for the older one.
  for (let i = 0; i < 2000 && (await store.list((await store.lanes())[0] ?? 'none')).length === 0; i++) {
    await new Promise((r) => setTimeout(r, 2));
  }
  await new Promise((r) => setImmediate(r));
  expect(rung).toEqual([]);
  expect(newerAnswered).toBe(false);
  release();
  const [a, b] = await Promise.all([older, newer]);
  if (!a.journaled || !b.journaled) throw new Error('not journaled');
  expect(a.id < b.id).toBe(true);
  expect(rung).toEqual([a.id, b.id]);
});

it('without ringInIdOrder (cloud, edge) each change is rung as soon as it is journaled, not one after another', async () => {
  const { store } = await heldStore('/nothing/held');
  let release = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const ringing: string[] = [];
  const intake = new ChangeIntake({
    store,
    doorbell: {
      ring: async (refs: readonly EntryRef[]) => {
        ringing.push(refs[0]!.id);
        await gate; // a slow SQS send, say
      },
    },
    clock: new StampClock(),
    topology: new Topology([{ path: '/user_homes', replicate: true }], [{ name: 'server2' }]),
    replicationUser: 'replication',
  });
  const both = [
    intake.submit({ action: 'makedir', path: '/user_homes/p' }, 'node-a'),
    intake.submit({ action: 'makedir', path: '/user_homes/q' }, 'node-b'),
  ];
  for (let i = 0; i < 2000 && ringing.length < 2; i++) await new Promise((r) => setTimeout(r, 2));
  expect(ringing).toHaveLength(2); // both rings under way at once
  release();
  await Promise.all(both);
});

it('a change that fails to be journaled does not hold back the rings after it', async () => {
  const { store, release } = await heldStore('/user_homes/x');
  const rung: string[] = [];
  const intake = intakeOn(store, rung);
  const older = intake.submit({ action: 'delete', path: '/user_homes/x' }, 'node-a');
  const newer = intake.submit({ action: 'makedir', path: '/user_homes/x/new' }, 'node-b');
  release(new Error('disk full'));
  await expect(older).rejects.toThrow('disk full');
  const b = await newer;
  if (!b.journaled) throw new Error('not journaled');
  expect(rung).toEqual([b.id]);
});
