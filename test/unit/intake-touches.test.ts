import { expect, it } from 'vitest';
import { FsJournalStore } from '../../src/adapters/fs-journal/store.js';
import { silentDoorbell } from '../../src/core/doorbell.js';
import { ChangeIntake } from '../../src/core/intake.js';
import { StampClock } from '../../src/core/stamp.js';
import { Topology } from '../../src/core/topology.js';
import { tempDir } from '../support/tmp.js';

it('tells running resyncs of a change before the change gets its id, journaled or made on the only peer', async () => {
  // In cloud mode the touch is an S3 write: a job write stamped while it is under way must not be older than the
  // change, or the two could replay side by side (docs/convergence.md).
  const tmp = await tempDir();
  const store = await FsJournalStore.open(tmp.dir);
  const stamps: string[] = [];
  class WatchedClock extends StampClock {
    override next(): string {
      const stamp = super.next();
      stamps.push(stamp);
      return stamp;
    }
  }
  const touched: { path: string; stampsBefore: number }[] = [];
  const intake = new ChangeIntake({
    store,
    doorbell: silentDoorbell,
    clock: new WatchedClock(),
    topology: new Topology([{ path: '/user_homes', replicate: true }], [{ name: 'server-b', node: 'node-b' }]),
    replicationUser: 'replication',
    touches: {
      record: async (change) => {
        touched.push({ path: change.path, stampsBefore: stamps.length });
      },
    },
  });
  try {
    const journaled = await intake.submit({ action: 'delete', path: '/user_homes/a' }, 'node-a');
    const upload = await intake.submit({ action: 'upload', path: '/user_homes/b', size: 1 }, 'node-a');
    await intake.submit({ action: 'delete', path: '/user_homes/c' }, 'node-b'); // its own server is the only peer
    expect(journaled.journaled && upload.journaled).toBe(true);
    expect(touched).toEqual([
      { path: '/user_homes/a', stampsBefore: 0 },
      { path: '/user_homes/b', stampsBefore: 1 },
      { path: '/user_homes/c', stampsBefore: 2 },
    ]);
    expect(stamps).toHaveLength(2);
  } finally {
    await store.close();
    await tmp.remove();
  }
});
