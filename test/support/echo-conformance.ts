import { describe, expect, it } from 'vitest';
import { MAX_ECHO_ANCESTORS, ReplicaEchoFilter, type ReplicaRecords } from '../../src/core/echo.js';
import type { JournalEntry } from '../../src/core/entry.js';

/** A controlled clock (ms), shared by the filters of one test as a shared wall clock would be. */
export interface TestClock {
  t: number;
}

/**
 * Opens replica records for one test. Called once per simulated process: each call returns a new handle on the
 * same store (the S3 records: a new client on the same bucket and prefix; in memory: the same object).
 */
export type RecordsFixture = (clock: TestClock) => () => ReplicaRecords;

export const WINDOW_MS = 1000;
const HASH = 'a'.repeat(64);

export function replica(overrides: Partial<JournalEntry> = {}): JournalEntry {
  return {
    id: '20261127T055429693Z-000000-9f2c1a',
    lane: '0123456789abcdef',
    peer: 'server-b',
    location: '/user_homes',
    action: 'upload',
    path: '/user_homes/john/a.txt',
    sha256: HASH,
    createdAt: '2026-11-27T05:54:29.693Z',
    status: 'PENDING',
    attempts: 0,
    ...overrides,
  };
}

/** A filter as one process builds it: server-b is node-b's own server, server-c is nobody's. */
export function filterOn(records: ReplicaRecords, clock: TestClock): ReplicaEchoFilter {
  return new ReplicaEchoFilter({
    nodeOfPeer: new Map([
      ['server-a', 'node-a'],
      ['server-b', 'node-b'],
    ]),
    records,
    windowMs: WINDOW_MS,
    now: () => clock.t,
  });
}

const upload = (path = '/user_homes/john/a.txt', sha256 = HASH) => ({ action: 'upload' as const, path, sha256 });

/**
 * What every ReplicaRecords store must give the echo filter, run against each of them. Each test plays two
 * processes: `replay` records replicas (the replay function), `api` looks reports up (the API function).
 */
export function echoRecordsConformance(name: string, open: () => Promise<RecordsFixture>): void {
  const processes = async (clock: TestClock = { t: 1_000_000 }) => {
    const handle = (await open())(clock);
    return { clock, replay: filterOn(handle(), clock), api: filterOn(handle(), clock) };
  };

  describe(`echo suppression across processes: ${name}`, () => {
    it('drops the replica of an upload reported by the peer’s own node, each time, and counts it', async () => {
      const { replay, api } = await processes();
      await replay.recordReplica(replica());
      expect(await api.isEcho(upload(), 'node-a')).toBe(false); // another node: a real change
      expect(await api.isEcho(upload(undefined, 'b'.repeat(64)), 'node-b')).toBe(false); // other content: real
      expect(await api.isEcho(upload('/user_homes/john/b.txt'), 'node-b')).toBe(false); // other path: real
      expect(await api.isEcho(upload(), 'node-b')).toBe(true);
      // A watcher may report one replica twice (add, then change): the repeat is an echo too.
      expect(await api.isEcho(upload(), 'node-b')).toBe(true);
      expect(await api.isEcho(upload(), undefined)).toBe(false); // the admin token: no node
      // Counted where it was suppressed, read by any process.
      expect(await replay.counts()).toEqual(
        new Map([
          ['node-a', 0],
          ['node-b', 2],
        ]),
      );
    });

    it('recognises the folders a replica created, renames, and deletes at or below a deleted folder', async () => {
      const { replay, api } = await processes();
      await replay.recordReplica(replica({ path: '/user_homes/john/new/deep/a.txt' }));
      expect(await api.isEcho({ action: 'makedir', path: '/user_homes/john/new' }, 'node-b')).toBe(true);
      expect(await api.isEcho({ action: 'makedir', path: '/user_homes/john/new/deep' }, 'node-b')).toBe(true);
      expect(await api.isEcho({ action: 'makedir', path: '/user_homes' }, 'node-b')).toBe(false); // the location
      await replay.recordReplica(
        replica({ action: 'rename', path: '/user_homes/x', target: '/user_homes/moved/y', sha256: undefined }),
      );
      expect(
        await api.isEcho({ action: 'rename', path: '/user_homes/x', target: '/user_homes/moved/y' }, 'node-b'),
      ).toBe(true);
      expect(await api.isEcho({ action: 'rename', path: '/user_homes/x', target: '/user_homes/z' }, 'node-b')).toBe(
        false,
      );
      expect(await api.isEcho({ action: 'makedir', path: '/user_homes/moved' }, 'node-b')).toBe(true);
      await replay.recordReplica(replica({ action: 'delete', path: '/user_homes/gone', sha256: undefined }));
      expect(await api.isEcho({ action: 'delete', path: '/user_homes/gone/child.txt' }, 'node-b')).toBe(true);
      expect(await api.isEcho({ action: 'delete', path: '/user_homes/gone/a/b/c.txt' }, 'node-b')).toBe(true);
      expect(await api.isEcho({ action: 'delete', path: '/user_homes/gone' }, 'node-b')).toBe(true);
      expect(await api.isEcho({ action: 'delete', path: '/user_homes/gonex' }, 'node-b')).toBe(false);
      expect(await api.isEcho({ action: 'delete', path: '/user_homes/x' }, 'node-b')).toBe(false);
      // Only a delete is covered by a deleted folder: a new upload below it is a real change.
      expect(await api.isEcho(upload('/user_homes/gone/child.txt'), 'node-b')).toBe(false);
    });

    it('forgets a replica once the window has passed, and records nothing for a peer that is no node’s', async () => {
      const { clock, replay, api } = await processes();
      await replay.recordReplica(replica());
      await replay.recordReplica(replica({ peer: 'server-c', path: '/user_homes/c.txt' }));
      clock.t += WINDOW_MS - 1;
      expect(await api.isEcho(upload(), 'node-b')).toBe(true);
      clock.t += 1;
      expect(await api.isEcho(upload(), 'node-b')).toBe(false);
      expect(await api.isEcho(upload('/user_homes/c.txt'), 'node-b')).toBe(false);
      expect((await api.counts()).get('node-b')).toBe(1);
    });

    it('renews a record only once half the window has passed, so a long transfer keeps its echo covered', async () => {
      const { clock, replay, api } = await processes();
      await replay.recordReplica(replica()); // before the request
      clock.t += WINDOW_MS / 2 - 1;
      await replay.recordReplica(replica()); // applied quickly: the first record stands (nothing written)
      clock.t += WINDOW_MS / 2 + 1; // the first record has expired
      expect(await api.isEcho(upload(), 'node-b')).toBe(false);
      await replay.recordReplica(replica()); // applied after a long transfer: written again
      clock.t += WINDOW_MS - 1;
      expect(await api.isEcho(upload(), 'node-b')).toBe(true);
    });

    it('treats configuration documents like files', async () => {
      const { replay, api } = await processes();
      const path = '/.vfs-relay/config/users/john';
      await replay.recordReplica(replica({ action: 'config_put', path, location: 'config:' }));
      await replay.recordReplica(replica({ action: 'config_delete', path: `${path}2`, location: 'config:' }));
      expect(await api.isEcho({ action: 'config_put', path, sha256: HASH }, 'node-b')).toBe(true);
      expect(await api.isEcho({ action: 'config_put', path, sha256: 'c'.repeat(64) }, 'node-b')).toBe(false);
      expect(await api.isEcho({ action: 'config_delete', path: `${path}2` }, 'node-b')).toBe(true);
    });

    it(`looks at most ${MAX_ECHO_ANCESTORS} folders up from a reported delete`, async () => {
      const { replay, api } = await processes();
      await replay.recordReplica(replica({ action: 'delete', path: '/user_homes/deep', sha256: undefined }));
      const below = (levels: number) => `/user_homes/deep${'/d'.repeat(levels - 1)}/file`;
      expect(await api.isEcho({ action: 'delete', path: below(MAX_ECHO_ANCESTORS) }, 'node-b')).toBe(true);
      expect(await api.isEcho({ action: 'delete', path: below(MAX_ECHO_ANCESTORS + 1) }, 'node-b')).toBe(false);
    });
  });
}
