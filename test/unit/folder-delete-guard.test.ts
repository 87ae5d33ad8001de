import { describe, expect, it } from 'vitest';
import type { JournalEntry } from '../../src/core/entry.js';
import { FolderDeleteGuardPeer } from '../../src/core/folder-delete-guard.js';
import type { TreeItem, TreeReader } from '../../src/core/jobs/tree.js';
import type { Peer, ReplayOutcome } from '../../src/core/peer.js';
import { StampClock } from '../../src/core/stamp.js';

const clock = new StampClock();

function entry(fields: Partial<JournalEntry>): JournalEntry {
  return {
    id: clock.next(),
    lane: 'a'.repeat(16),
    peer: 'server2',
    location: '/user_homes',
    action: 'delete',
    path: '/user_homes/big',
    createdAt: new Date().toISOString(),
    status: 'PENDING',
    attempts: 0,
    ...fields,
  };
}

/** A peer folder `/user_homes/big` of `files` files; counts the listings. */
function reader(files: number) {
  const items: TreeItem[] = Array.from({ length: files }, (_, i) => ({ name: `f${i}`, type: 'file', size: 1 }));
  const counted = { listings: 0 };
  const tree: TreeReader = {
    name: 'server2',
    async stat(path) {
      return path === '/user_homes/big' ? { name: 'big', type: 'dir' } : undefined;
    },
    async list(path) {
      counted.listings += 1;
      return path === '/user_homes/big' ? items : [];
    },
    async checksum() {
      return '';
    },
    async close() {},
  };
  return { tree, counted };
}

function inner(answer: ReplayOutcome) {
  const applied: string[] = [];
  const peer: Peer = {
    name: 'server2',
    probe: async () => ({ kind: 'applied' }),
    apply: async (e) => {
      applied.push(e.id);
      return answer;
    },
    close: async () => {},
  };
  return { peer, applied };
}

describe('FolderDeleteGuardPeer', () => {
  it('holds a delete of a folder with more than maxDeletes entries, and sends a smaller one', async () => {
    const big = reader(11);
    const { peer, applied } = inner({ kind: 'applied' });
    const held: string[] = [];
    const guard = new FolderDeleteGuardPeer(peer, big.tree, 10, async (e) => void held.push(e.id));
    const e = entry({});
    expect(await guard.apply(e, async () => undefined as never)).toMatchObject({ kind: 'held' });
    expect(held).toEqual([e.id]);
    expect(applied).toEqual([]);
    const small = new FolderDeleteGuardPeer(peer, reader(10).tree, 10);
    expect(await small.apply(e, async () => undefined as never)).toEqual({ kind: 'applied' });
  });

  it("leaves a job's delete its job will not send to the job, neither counted nor held", async () => {
    // A live change touched the folder after the resync started: the job stands back (skipped). Holding the
    // delete instead would keep that live change BLOCKED behind it until an operator acted.
    const big = reader(50);
    const { peer, applied } = inner({ kind: 'applied', detail: 'job entry skipped' });
    const held: string[] = [];
    const guard = new FolderDeleteGuardPeer(
      peer,
      big.tree,
      10,
      async (e) => void held.push(e.id),
      async () => true,
    );
    const e = entry({ job: clock.next() });
    expect(await guard.apply(e, async () => undefined as never)).toEqual({
      kind: 'applied',
      detail: 'job entry skipped',
    });
    expect(applied).toEqual([e.id]);
    expect(held).toEqual([]);
    expect(big.counted.listings).toBe(0);
    // A live change that touches the folder while it is being counted: not held either.
    let asked = 0;
    const touchedMeanwhile = new FolderDeleteGuardPeer(
      peer,
      big.tree,
      10,
      async (x) => void held.push(x.id),
      async () => ++asked > 1,
    );
    expect(await touchedMeanwhile.apply(e, async () => undefined as never)).toMatchObject({ kind: 'applied' });
    expect(held).toEqual([]);
    // A job delete its job will send is counted and held like any other.
    const sending = new FolderDeleteGuardPeer(
      peer,
      big.tree,
      10,
      async (x) => void held.push(x.id),
      async () => false,
    );
    expect(await sending.apply(e, async () => undefined as never)).toMatchObject({ kind: 'held' });
    expect(held).toEqual([e.id]);
  });
});
