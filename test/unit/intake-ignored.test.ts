import { expect, it } from 'vitest';
import { FsJournalStore } from '../../src/adapters/fs-journal/store.js';
import { silentDoorbell } from '../../src/core/doorbell.js';
import { ChangeIntake, type IgnoredReason } from '../../src/core/intake.js';
import { StampClock } from '../../src/core/stamp.js';
import { Topology } from '../../src/core/topology.js';
import { tempDir } from '../support/tmp.js';

it('reports every change it does not journal, with the reason and the node (for the ignored/echo metrics)', async () => {
  const tmp = await tempDir();
  const store = await FsJournalStore.open(tmp.dir);
  const seen: [IgnoredReason, string | undefined][] = [];
  const intake = new ChangeIntake({
    store,
    doorbell: silentDoorbell,
    clock: new StampClock(),
    topology: new Topology([{ path: '/user_homes', replicate: true }], [{ name: 'server-b', node: 'node-b' }]),
    replicationUser: 'replication',
    echo: { isEcho: (change) => change.path === '/user_homes/echo' },
    onIgnored: (reason, node) => seen.push([reason, node]),
  });
  await intake.submit({ action: 'delete', path: '/user_homes/x', user: 'replication' }, 'node-a');
  await intake.submit({ action: 'delete', path: '/elsewhere/x' }, 'node-a');
  await intake.submit({ action: 'delete', path: '/user_homes/echo' }, 'node-b');
  await intake.submit({ action: 'delete', path: '/user_homes/x' }, 'node-b'); // its own server is the only peer
  const journaled = await intake.submit({ action: 'delete', path: '/user_homes/x' }, 'node-a');
  expect(journaled.journaled).toBe(true);
  expect(seen).toEqual([
    ['REPLICATION_USER', 'node-a'],
    ['NOT_REPLICATED', 'node-a'],
    ['ECHO', 'node-b'],
    ['NO_PEERS', 'node-b'],
  ]);
  await store.close();
  await tmp.remove();
});
