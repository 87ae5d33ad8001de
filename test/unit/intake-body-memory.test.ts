import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { expect, it } from 'vitest';
import { FsJournalStore } from '../../src/adapters/fs-journal/store.js';
import { ByteBudget } from '../../src/core/byte-budget.js';
import { silentDoorbell } from '../../src/core/doorbell.js';
import { ChangeIntake } from '../../src/core/intake.js';
import { StampClock } from '../../src/core/stamp.js';
import { Topology } from '../../src/core/topology.js';
import { tempDir } from '../support/tmp.js';

it('receives one-request bodies whole only within the shared body memory budget, else streams them', async () => {
  const tmp = await tempDir();
  const budget = new ByteBudget(1000);
  const store = await FsJournalStore.open(tmp.dir, () => {}, { bodyMemory: budget });
  const whole: number[] = [];
  const createWithBody = store.createWithBody.bind(store);
  store.createWithBody = async (entries, body, digest) => {
    whole.push(body.length);
    expect(budget.inUse).toBeGreaterThanOrEqual(body.length); // held within the budget while it was received
    return createWithBody(entries, body, digest);
  };
  const intake = new ChangeIntake({
    store,
    doorbell: silentDoorbell,
    clock: new StampClock(),
    topology: new Topology([{ path: '/user_homes', replicate: true }], [{ name: 'server2' }]),
    replicationUser: 'replication',
    bodyMemory: budget,
  });
  const upload = (name: string, size: number) => {
    const body = Buffer.alloc(size, 1);
    const sha256 = createHash('sha256').update(body).digest('hex');
    return intake.uploadInOne(
      { action: 'upload', path: `/user_homes/${name}`, size, sha256 },
      Readable.from([body]),
      'a',
    );
  };
  expect((await upload('fits', 600)).journaled).toBe(true);
  expect(budget.inUse).toBe(0); // released once journaled
  expect(budget.tryReserve(700)).toBe(true); // someone else holds most of it now
  expect((await upload('streamed', 600)).journaled).toBe(true);
  expect(whole).toEqual([600]); // the second went to disk as a stream, not into memory
  budget.release(700);
  expect((await upload('fits-again', 600)).journaled).toBe(true);
  expect(whole).toEqual([600, 600]);
  await store.close();
  await tmp.remove();
});
