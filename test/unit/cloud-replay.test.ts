import { Readable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import type { EntryRef, JournalEntry } from '../../src/core/entry.js';
import type { JournalStore, ListOptions } from '../../src/core/journal.js';
import { laneId } from '../../src/core/lane.js';
import { silentLogger } from '../../src/core/logger.js';
import type { Peer, PeerState, ReplayOutcome } from '../../src/core/peer.js';
import { StampClock } from '../../src/core/stamp.js';
import type { EntryClaim, EntryClaims } from '../../src/runtime/cloud/entry-claims.js';
import { firstBlocker, readyEntries } from '../../src/runtime/cloud/lane-order.js';
import { nextPeerState, type PeerStateStore } from '../../src/runtime/cloud/peer-state.js';
import { autoPlay } from '../../src/runtime/cloud/relay.js';
import { CloudReplayWorker } from '../../src/runtime/cloud/replay-worker.js';
import { SharedPeerHealth } from '../../src/runtime/cloud/shared-health.js';
import { CloudSweeper, type QueueFigures } from '../../src/runtime/cloud/sweep.js';
import type { Waiting, WaitList } from '../../src/runtime/cloud/wait-list.js';

const LANE = laneId('/user_homes', 'server2');
const clock = new StampClock();

function entry(fields: Partial<JournalEntry> & Pick<JournalEntry, 'action' | 'path'>): JournalEntry {
  return {
    lane: LANE,
    id: clock.next(),
    peer: 'server2',
    location: '/user_homes',
    createdAt: new Date().toISOString(),
    status: 'PENDING',
    attempts: 0,
    ...fields,
  };
}

/** The part of a journal the cloud worker and sweep use, in memory. */
class MemoryJournal {
  readonly entries = new Map<string, JournalEntry>();
  constructor(...entries: JournalEntry[]) {
    for (const e of entries) this.entries.set(e.id, e);
  }
  async read(ref: EntryRef) {
    const e = this.entries.get(ref.id);
    return e && { ...e };
  }
  async list(lane: string, options: ListOptions = {}) {
    return [...this.entries.values()]
      .filter((e) => e.lane === lane && (options.after === undefined || e.id > options.after))
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .slice(0, options.limit ?? Number.POSITIVE_INFINITY);
  }
  async lanes() {
    return [...new Set([...this.entries.values()].map((e) => e.lane))];
  }
  async update(e: JournalEntry) {
    this.entries.set(e.id, e);
  }
  async purge(ref: EntryRef) {
    this.entries.delete(ref.id);
  }
  async readBody() {
    return Readable.from([Buffer.from('x')]);
  }
  get store(): JournalStore {
    return this as unknown as JournalStore;
  }
}

class MemoryWaitList implements WaitList {
  readonly waiting: Waiting[] = [];
  async add(blocker: EntryRef, waiter: EntryRef) {
    this.waiting.push({ blocker, waiter });
  }
  async take(blocker: EntryRef) {
    const taken = this.waiting.filter((w) => w.blocker.id === blocker.id);
    await this.remove(taken);
    return taken.map((w) => w.waiter);
  }
  async all() {
    return [...this.waiting];
  }
  async remove(gone: readonly Waiting[]) {
    for (const w of gone) this.waiting.splice(this.waiting.indexOf(w), 1);
  }
}

/** Claims shared by every worker given it, as S3 shares them between processes. */
class MemoryClaims implements EntryClaims {
  readonly keptMs = 60_000;
  readonly orphanAfterMs = 240_000;
  readonly held = new Set<string>();
  /** The claims handed out, by key: a test can make one lost (as a failed renewal would). */
  readonly taken = new Map<string, { lose(): void }>();
  /** Notes left by holders that rewrote their entry: the next taker is told to read it again. */
  readonly notes = new Set<string>();
  async take(ref: EntryRef): Promise<EntryClaim | undefined> {
    const key = `${ref.lane}/${ref.id}`;
    if (this.held.has(key)) return undefined;
    this.held.add(key);
    const rewritten = this.notes.delete(key);
    const controller = new AbortController();
    this.taken.set(key, { lose: () => controller.abort() });
    let kept = false;
    return {
      get lost() {
        return controller.signal.aborted;
      },
      signal: controller.signal,
      rewritten,
      keep: () => {
        kept = true;
      },
      release: async (options = {}) => {
        // A lost claim is another process's (or expires), a kept one marks a completed entry: neither is deleted.
        if (controller.signal.aborted || kept) return;
        this.held.delete(key);
        if (options.entryRewritten) this.notes.add(key);
      },
    };
  }
  async removeOrphans(present: (ref: EntryRef) => boolean): Promise<number> {
    const orphans = [...this.held].filter((key) => {
      const [lane, id] = key.split('/') as [string, string];
      return !present({ lane, id });
    });
    for (const key of orphans) this.held.delete(key);
    return orphans.length;
  }
}

class FakePeer implements Peer {
  readonly name = 'server2';
  readonly applied: string[] = [];
  answer: ReplayOutcome = { kind: 'applied' };
  /** Per path, instead of `answer`. */
  readonly answers = new Map<string, ReplayOutcome>();
  /** What a probe finds, when it differs from `answer`. */
  probeAnswer: ReplayOutcome | undefined;
  probes = 0;
  async probe(): Promise<ReplayOutcome> {
    this.probes += 1;
    return this.probeAnswer ?? this.answer;
  }
  async apply(e: JournalEntry, _body?: () => Promise<unknown>, _signal?: AbortSignal): Promise<ReplayOutcome> {
    const answer = this.answers.get(e.path) ?? this.answer;
    if (answer.kind === 'applied') this.applied.push(e.id);
    return answer;
  }
  async close() {}
}

class MemoryPeerStates implements PeerStateStore {
  readonly states = new Map<string, { state: PeerState; version: string }>();
  async read(peer: string) {
    const s = this.states.get(peer);
    return { state: s && { ...s.state }, version: s?.version };
  }
  async write(peer: string, state: PeerState, version: string | undefined) {
    if (this.states.get(peer)?.version !== version) return false;
    this.states.set(peer, { state, version: String(Math.random()) });
    return true;
  }
}

function setup(...entries: JournalEntry[]): ReturnType<typeof rig> {
  return rig(undefined, entries);
}

function rig(claims: EntryClaims | undefined, entries: JournalEntry[]) {
  const journal = new MemoryJournal(...entries);
  const peer = new FakePeer();
  const peers = new Map([['server2', peer as Peer]]);
  const states = new MemoryPeerStates();
  const health = new SharedPeerHealth({ peers, store: states, logger: silentLogger, onlineCacheMs: 0 });
  const waitList = new MemoryWaitList();
  const rung: { ids: string[]; cause: string }[] = [];
  const redrive = async (refs: readonly EntryRef[], cause: string) => {
    rung.push({ ids: refs.map((r) => r.id), cause });
    return refs.length;
  };
  const worker = new CloudReplayWorker({
    store: journal.store,
    peers,
    health,
    waitList,
    claims,
    redrive,
    logger: silentLogger,
  });
  /** Another process on the same journal, peer state, wait list and claims. */
  const otherProcess = () =>
    new CloudReplayWorker({ store: journal.store, peers, health, waitList, claims, redrive, logger: silentLogger });
  return { journal, peer, health, states, waitList, rung, redrive, worker, otherProcess };
}

describe('lane order (the embedded replayer rule over the journal)', () => {
  it('holds back what overlaps an older unfinished entry, whatever its status', () => {
    const a = entry({ action: 'upload', path: '/user_homes/john/a' });
    const stuck = entry({
      action: 'rename',
      path: '/user_homes/mary/x',
      target: '/user_homes/omega/y',
      status: 'CONFLICT',
    });
    const b = entry({ action: 'delete', path: '/user_homes/john' });
    const c = entry({ action: 'upload', path: '/user_homes/omega/y/z' });
    const d = entry({ action: 'upload', path: '/user_homes/paul/p' });
    expect(readyEntries([a, stuck, b, c, d]).map((e) => e.id)).toEqual([a.id, d.id]);
    expect(firstBlocker(c, [a, stuck, b])?.id).toBe(stuck.id);
    expect(firstBlocker(d, [a, stuck, b])).toBeUndefined();
  });

  it('takes paths that differ only in case or Unicode form for one path (a case-insensitive peer)', () => {
    const del = entry({ action: 'delete', path: '/user_homes/John' });
    const up = entry({ action: 'upload', path: '/user_homes/john/a' });
    const nfd = entry({ action: 'rename', path: '/user_homes/paul/cafe\u0301', target: '/user_homes/paul/b' });
    const nfc = entry({ action: 'upload', path: '/user_homes/paul/CAF\u00c9' });
    expect(readyEntries([del, up, nfd, nfc]).map((e) => e.id)).toEqual([del.id, nfd.id]);
    expect(firstBlocker(nfc, [del, up, nfd])?.id).toBe(nfd.id);
  });
});

describe('CloudReplayWorker', () => {
  it('applies a ready entry, purges it and re-rings whatever waited for it', async () => {
    const a = entry({ action: 'upload', path: '/user_homes/omega/b.txt', size: 1 });
    const rename = entry({ action: 'rename', path: '/user_homes/alpha/a', target: '/user_homes/omega/b.txt' });
    const { worker, journal, peer, waitList, rung } = setup(a, rename);

    // The rename's message comes first (another group): it waits, registered on a's wait list.
    expect(await worker.replay(rename)).toBe('deferred');
    expect(peer.applied).toEqual([]);
    expect(waitList.waiting).toEqual([{ blocker: { lane: LANE, id: a.id }, waiter: { lane: LANE, id: rename.id } }]);

    expect(await worker.replay(a)).toBe('applied');
    expect(journal.entries.has(a.id)).toBe(false);
    expect(rung).toEqual([{ ids: [rename.id], cause: `after.${a.id}` }]);
    expect(await worker.replay(rename)).toBe('applied');
    expect(peer.applied).toEqual([a.id, rename.id]);
  });

  it('acknowledges duplicates, entries that wait for an operator, and peers that are down', async () => {
    const a = entry({ action: 'makedir', path: '/user_homes/x' });
    const parked = entry({ action: 'makedir', path: '/user_homes/y', status: 'CONFLICT' });
    const stranger = entry({ action: 'makedir', path: '/user_homes/s', peer: 'nobody' });
    const { worker, peer, health } = setup(a, parked, stranger);
    expect(await worker.replay(a)).toBe('applied');
    expect(await worker.replay(a)).toBe('gone');
    expect(await worker.replay(parked)).toBe('not-pending');
    expect(await worker.replay(stranger)).toBe('unknown-peer');

    const b = entry({ action: 'makedir', path: '/user_homes/z' });
    const c = entry({ action: 'makedir', path: '/user_homes/w' });
    const second = setup(b, c);
    second.peer.answer = { kind: 'offline', reason: 'connect ECONNREFUSED' };
    expect(await second.worker.replay(b)).toBe('peer-failed');
    expect(second.journal.entries.get(b.id)).toMatchObject({ status: 'PENDING', attempts: 1 });
    expect((await second.health.state('server2')).status).toBe('OFFLINE');
    expect(await second.worker.replay(c)).toBe('peer-down');
    expect(peer.applied).toEqual([a.id]);
    await health.record('server2', { kind: 'applied' });
  });

  it('parks a refused change as CONFLICT, and what overlaps it waits', async () => {
    const rename = entry({ action: 'rename', path: '/user_homes/a/ghost', target: '/user_homes/a/found' });
    const inside = entry({ action: 'upload', path: '/user_homes/a/found/x', size: 1 });
    const { worker, journal, peer } = setup(rename, inside);
    peer.answer = { kind: 'conflict', reason: 'MOVE: rename source missing\n(HTTP 404)' };
    expect(await worker.replay(rename)).toBe('parked');
    expect(journal.entries.get(rename.id)).toMatchObject({
      status: 'CONFLICT',
      lastError: 'MOVE: rename source missing (HTTP 404)',
    });
    peer.answer = { kind: 'applied' };
    expect(await worker.replay(inside)).toBe('deferred');
  });

  it('does not replay an entry it parked again for a second delivery whose listing predates the park', async () => {
    // Its own message and a sweep's re-drive in one batch share a listing taken before the first delivery parked
    // it. Had the second replayed from that listing, an operator's fix of the peer in between would have applied
    // the change behind the operator's back (their retry then answered 404).
    const rename = entry({ action: 'rename', path: '/user_homes/a/ghost', target: '/user_homes/a/found' });
    const { worker, journal, peer } = setup(rename);
    peer.answer = { kind: 'conflict', reason: 'MOVE: rename source missing (HTTP 404)' };
    const batch = worker.batch();
    expect(await batch.replay(rename)).toBe('parked');
    peer.answer = { kind: 'applied' };
    expect(await batch.replay(rename)).toBe('not-pending');
    await batch.finish();
    expect(peer.applied).toEqual([]);
    expect(journal.entries.get(rename.id)).toMatchObject({ status: 'CONFLICT', attempts: 1 });
    // A delivery after the park (an operator's retry rings one) lists the lane again, and goes by what it finds.
    await journal.store.update({ ...journal.entries.get(rename.id)!, status: 'PENDING' });
    expect(await worker.replay(rename)).toBe('applied');
    expect(peer.applied).toEqual([rename.id]);
  });

  it('parks a change the peer answers 403 for when a probe passes, and the peer stays ONLINE (shared policy)', async () => {
    const refused = entry({ action: 'makedir', path: '/user_homes/x/.htaccess' });
    const fine = entry({ action: 'makedir', path: '/user_homes/y' });
    const { worker, journal, peer, health } = setup(refused, fine);
    peer.answers.set(refused.path, { kind: 'unauthorized', reason: 'MKCOL: HTTP 403', status: 403 });
    expect(await worker.replay(refused)).toBe('parked');
    expect(journal.entries.get(refused.id)).toMatchObject({ status: 'CONFLICT', attempts: 1, lastStatus: 403 });
    expect(peer.probes).toBe(1);
    expect((await health.state('server2')).status).toBe('ONLINE');
    expect(await worker.replay(fine)).toBe('applied');

    // Refused credentials: the probe is refused too; the peer is UNAUTHORIZED and nothing is parked.
    const other = setup(entry({ action: 'makedir', path: '/user_homes/z' }));
    const [z] = other.journal.entries.values();
    other.peer.answer = { kind: 'unauthorized', reason: 'MKCOL: HTTP 401', status: 401 };
    expect(await other.worker.replay(z!)).toBe('peer-failed');
    expect(other.journal.entries.get(z!.id)).toMatchObject({ status: 'PENDING', attempts: 1 });
    expect((await other.health.state('server2')).status).toBe('UNAUTHORIZED');
  });

  it('parks a change that fails with the same 500 five times while the peer applies others; down, parks none', async () => {
    const poison = entry({ action: 'upload', path: '/user_homes/poison', size: 1 });
    const { worker, journal, peer, health } = setup(poison);
    peer.answers.set(poison.path, { kind: 'offline', reason: 'PUT: HTTP 500', status: 500 });
    for (let attempt = 1; attempt <= 4; attempt++) {
      expect(await worker.replay(poison)).toBe('peer-failed');
      expect(journal.entries.get(poison.id)).toMatchObject({ status: 'PENDING', repeats: attempt });
      expect((await health.state('server2')).status).toBe('ONLINE'); // the probe passed: only this change waits
      // Another change applied before the next attempt: the peer works.
      await new Promise((r) => setTimeout(r, 2));
      const other = entry({ action: 'makedir', path: `/user_homes/other-${attempt}` });
      journal.entries.set(other.id, other);
      expect(await worker.replay(other)).toBe('applied');
    }
    expect(await worker.replay(poison)).toBe('parked');
    expect(journal.entries.get(poison.id)).toMatchObject({ status: 'CONFLICT', attempts: 5, lastStatus: 500 });

    // The same failures from a peer that is down: OFFLINE each time, never parked.
    const down = setup(entry({ action: 'upload', path: '/user_homes/p', size: 1 }));
    const [p] = down.journal.entries.values();
    down.peer.answer = { kind: 'offline', reason: 'PUT: HTTP 500', status: 500 };
    for (let attempt = 1; attempt <= 8; attempt++) {
      await down.health.record('server2', { kind: 'applied' }, true); // a ping found it back
      expect(await down.worker.replay(p!)).toBe('peer-failed');
      expect((await down.health.state('server2')).status).toBe('OFFLINE');
    }
    expect(down.journal.entries.get(p!.id)).toMatchObject({ status: 'PENDING', attempts: 8 });
  });

  it('goes ahead when the blocker completes between its check and its registration', async () => {
    const a = entry({ action: 'upload', path: '/user_homes/j/a', size: 1 });
    const b = entry({ action: 'delete', path: '/user_homes/j/a' });
    const { worker, journal, waitList } = setup(a, b);
    const add = waitList.add.bind(waitList);
    waitList.add = async (blocker, waiter) => {
      await add(blocker, waiter);
      journal.entries.delete(blocker.id); // completed meanwhile (its worker released before we registered)
    };
    expect(await worker.replay(b)).toBe('applied');
  });

  it('applies an entry delivered to two processes at once only in the one that holds its claim', async () => {
    const claims = new MemoryClaims();
    const a = entry({ action: 'upload', path: '/user_homes/k/a', size: 1 });
    const { worker, journal, peer, otherProcess } = rig(claims, [a]);
    let finish!: () => void;
    const apply = peer.apply.bind(peer);
    peer.apply = async (e) => {
      await new Promise<void>((resolve) => (finish = resolve)); // the first delivery is slow at the peer
      return apply(e);
    };
    const first = worker.replay(a);
    await new Promise((r) => setTimeout(r, 10));
    expect(claims.held.size).toBe(1);
    expect(await otherProcess().replay(a)).toBe('busy');
    finish();
    expect(await first).toBe('applied');
    expect(peer.applied).toEqual([a.id]);
    // The claim stays, marking the entry complete for any late delivery (the sweep deletes it much later).
    expect(claims.held.size).toBe(1);
    expect(journal.entries.has(a.id)).toBe(false);
    expect(await otherProcess().replay(a)).toBe('gone');
  });

  it('stops a replay whose claim is lost, and records nothing of it: no outcome, no purge, no park', async () => {
    const claims = new MemoryClaims();
    const a = entry({ action: 'upload', path: '/user_homes/k/a', size: 1 });
    const { worker, journal, peer, states } = rig(claims, [a]);
    let signalled: AbortSignal | undefined;
    peer.apply = (_e: JournalEntry, _body?: unknown, signal?: AbortSignal) => {
      signalled = signal;
      // A slow peer: the request ends only when the replay gives it up (the adapter reports that as offline).
      return new Promise<ReplayOutcome>((resolve) =>
        signal!.addEventListener('abort', () => resolve({ kind: 'offline', reason: 'UND_ERR_ABORTED' })),
      );
    };
    const replaying = worker.replay(a);
    await new Promise((r) => setTimeout(r, 10));
    expect(signalled?.aborted).toBe(false);
    const stateBefore = structuredClone(states.states.get('server2'));
    claims.taken.get(`${a.lane}/${a.id}`)!.lose();
    expect(await replaying).toBe('busy');
    expect(signalled!.aborted).toBe(true);
    // The entry is as it was: another process owns it now (or the sweep re-drives it once the claim expires).
    expect(journal.entries.get(a.id)).toEqual(a);
    // The dropped request is not held against the peer.
    expect(states.states.get('server2')).toEqual(stateBefore);
    expect(claims.held.size).toBe(1);
  });

  it('applies nothing when the entry was completed while its claim was being taken', async () => {
    const a = entry({ action: 'upload', path: '/user_homes/k/a', size: 1 });
    const claims = new MemoryClaims();
    const { worker, journal, peer } = rig(claims, [a]);
    const take = claims.take.bind(claims);
    claims.take = async (ref) => {
      // Another process applied and purged it meanwhile, keeping its claim.
      expect(await otherProcessTakes(ref)).toBeDefined();
      journal.entries.delete(ref.id);
      return take(ref);
    };
    const otherProcessTakes = take;
    expect(await worker.replay(a)).toBe('busy');
    expect(peer.applied).toEqual([]);
  });

  it('reads the entry again when another process parked it after this one listed the lane', async () => {
    // Two deliveries of a rename in two processes: the second listed the lane while it was PENDING, then the first
    // took the claim, was refused and parked it. The peer was fixed before the second took the claim: replaying
    // from its listing would apply the change behind the operator's back (their retry then answered 404).
    const claims = new MemoryClaims();
    const rename = entry({ action: 'rename', path: '/user_homes/a/ghost', target: '/user_homes/a/found' });
    const { worker, journal, peer, otherProcess } = rig(claims, [rename]);
    const take = claims.take.bind(claims);
    let parkedFirst: Promise<unknown> | undefined;
    claims.take = async (ref) => {
      if (!parkedFirst) {
        claims.take = take; // only the second process's take waits for the first process
        peer.answer = { kind: 'conflict', reason: 'MOVE: rename source missing (HTTP 404)' };
        parkedFirst = otherProcess().replay(rename);
        expect(await parkedFirst).toBe('parked');
        peer.answer = { kind: 'applied' };
      }
      return take(ref);
    };
    expect(await worker.replay(rename)).toBe('not-pending');
    expect(peer.applied).toEqual([]);
    expect(journal.entries.get(rename.id)).toMatchObject({ status: 'CONFLICT', attempts: 1 });
    // The note stays for whoever takes the entry next (a third process may hold an equally old listing), and is
    // free at once: an operator's retry replays the entry, which completes it (its claim is kept).
    expect([...claims.notes]).toEqual([`${rename.lane}/${rename.id}`]);
    expect(claims.held.size).toBe(0);
    await journal.store.update({ ...journal.entries.get(rename.id)!, status: 'PENDING' });
    expect(await otherProcess().replay(rename)).toBe('applied');
    expect(peer.applied).toEqual([rename.id]);
    expect(claims.notes.size).toBe(0);
    expect([...claims.held]).toEqual([`${rename.lane}/${rename.id}`]);
  });

  it('leaves a note for a failed attempt it recorded, and for a rewrite that failed half-way', async () => {
    const claims = new MemoryClaims();
    const a = entry({ action: 'upload', path: '/user_homes/k/a', size: 1 });
    const b = entry({ action: 'upload', path: '/user_homes/k/b', size: 1 });
    const { worker, journal, peer } = rig(claims, [a, b]);
    // A 500 while the peer otherwise works: the attempt is recorded, the entry stays PENDING for a retry.
    peer.answers.set(a.path, { kind: 'offline', reason: 'PUT: HTTP 500', status: 500 });
    expect(await worker.replay(a)).toBe('peer-failed');
    expect(journal.entries.get(a.id)).toMatchObject({ status: 'PENDING', repeats: 1 });
    expect([...claims.notes]).toEqual([`${a.lane}/${a.id}`]);
    // The write of the park fails (S3 answered 500, say): whether config.XML changed is unknown, so a note.
    peer.answers.set(b.path, { kind: 'conflict', reason: 'PUT: HTTP 409', status: 409 });
    const update = journal.update.bind(journal);
    journal.update = async (e) => {
      if (e.id === b.id) throw Object.assign(new Error('InternalError'), { $metadata: { httpStatusCode: 500 } });
      return update(e);
    };
    await expect(worker.replay(b)).rejects.toThrow('InternalError');
    expect([...claims.notes].sort()).toEqual([`${a.lane}/${a.id}`, `${b.lane}/${b.id}`].sort());
    expect(claims.held.size).toBe(0);
  });

  it("rings a parked entry again when an operator's retry came while it held the claim", async () => {
    // The retry's own delivery found the claim taken and stood back (`busy`); without a second look after the
    // release, the entry would wait for the sweep.
    const claims = new MemoryClaims();
    const rename = entry({ action: 'rename', path: '/user_homes/a/ghost', target: '/user_homes/a/found' });
    const { worker, journal, peer, rung, otherProcess } = rig(claims, [rename]);
    peer.answer = { kind: 'conflict', reason: 'MOVE: rename source missing (HTTP 404)' };
    const take = claims.take.bind(claims);
    claims.take = async (ref) => {
      const claim = await take(ref);
      if (!claim) return claim;
      const release = claim.release.bind(claim);
      return Object.assign(claim, {
        release: async (options?: { entryRewritten?: boolean }) => {
          claims.take = take;
          // Parked; before the holder lets go, the operator fixes the peer and retries.
          expect(journal.entries.get(rename.id)).toMatchObject({ status: 'CONFLICT' });
          peer.answer = { kind: 'applied' };
          await journal.store.update({ ...journal.entries.get(rename.id)!, status: 'PENDING' });
          expect(await otherProcess().replay(rename)).toBe('busy');
          return release(options);
        },
      });
    };
    expect(await worker.replay(rename)).toBe('parked');
    expect(rung).toEqual([{ ids: [rename.id], cause: expect.stringMatching(/^recheck\./) }]);
    // The ring's delivery replays it.
    expect(await otherProcess().replay(rename)).toBe('applied');
    expect(peer.applied).toEqual([rename.id]);
    // A park nobody retried is looked at once more and left alone.
    const other = entry({ action: 'makedir', path: '/user_homes/b/x' });
    journal.entries.set(other.id, other);
    peer.answer = { kind: 'conflict', reason: 'MKCOL: HTTP 409', status: 409 };
    expect(await worker.replay(other)).toBe('parked');
    expect(rung).toHaveLength(1);
  });

  it('writes no park when the claim was lost while the outcome was settled', async () => {
    const claims = new MemoryClaims();
    const refused = entry({ action: 'makedir', path: '/user_homes/x/.htaccess' });
    const { worker, journal, peer } = rig(claims, [refused]);
    // A 403 is settled with a probe of the peer; the claim is lost meanwhile (its renewals failed for too long).
    peer.answer = { kind: 'unauthorized', reason: 'MKCOL: HTTP 403', status: 403 };
    peer.probe = async () => {
      claims.taken.get(`${refused.lane}/${refused.id}`)!.lose();
      return { kind: 'applied' };
    };
    expect(await worker.replay(refused)).toBe('busy');
    expect(journal.entries.get(refused.id)).toEqual(refused);
  });

  it('reads the entry again when it took the claim longer after the listing than a completed claim is kept', async () => {
    const a = entry({ action: 'upload', path: '/user_homes/k/a', size: 1 });
    const claims = new MemoryClaims();
    let now = 0;
    const { journal, peer, health, waitList, redrive } = rig(claims, [a]);
    const worker = new CloudReplayWorker({
      store: journal.store,
      peers: new Map([['server2', peer as Peer]]),
      health,
      waitList,
      claims,
      redrive,
      logger: silentLogger,
      monotonic: () => now,
    });
    const take = claims.take.bind(claims);
    claims.take = async (ref) => {
      // The process stalled for longer than a claim lives; meanwhile the entry was completed and its claim deleted.
      now += claims.keptMs;
      journal.entries.delete(ref.id);
      return take(ref);
    };
    expect(await worker.replay(a)).toBe('gone');
    expect(peer.applied).toEqual([]);
  });

  it('replays the entries of a batch concurrently, with one listing; an overlapping one waits in the process', async () => {
    const file = (name: string) => entry({ action: 'upload', path: `/user_homes/john/${name}`, size: 1 });
    const a = file('a');
    const b = file('b');
    const again = entry({ action: 'delete', path: '/user_homes/john/a' });
    const { worker, journal, peer, waitList } = setup(a, b, again);
    let lists = 0;
    const list = journal.list.bind(journal);
    journal.list = (lane, options) => {
      lists++;
      return list(lane, options);
    };
    const releases: (() => void)[] = [];
    const inFlight = new Set<string>();
    let most = 0;
    peer.apply = async (e) => {
      inFlight.add(e.id);
      most = Math.max(most, inFlight.size);
      await new Promise<void>((resolve) => releases.push(resolve));
      inFlight.delete(e.id);
      peer.applied.push(e.id);
      return { kind: 'applied' };
    };
    const batch = worker.batch();
    const decisions = Promise.all([batch.replay(again), batch.replay(b), batch.replay(a)]);
    await vi.waitFor(() => expect(inFlight.size).toBe(2)); // a and b at once; the delete of a waits for a
    expect([...inFlight].sort()).toEqual([a.id, b.id].sort());
    while (peer.applied.length < 3) {
      releases.shift()?.();
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(await decisions).toEqual(['applied', 'applied', 'applied']);
    await batch.finish();
    expect(peer.applied.indexOf(again.id)).toBeGreaterThan(peer.applied.indexOf(a.id));
    expect(most).toBe(2);
    expect(waitList.waiting).toEqual([]); // waited in the process, not on a wait list
    expect(lists).toBe(2); // one for the checks, one after the purges for the waiters
  });
});

describe('peer state shared through a store', () => {
  it('folds outcomes as the embedded PeerHealth does', () => {
    const down = nextPeerState({ status: 'ONLINE' }, { kind: 'offline', reason: 'timeout' }, true, 't1');
    expect(down).toEqual({ status: 'OFFLINE', since: 't1', lastPingAt: 't1', lastError: 'timeout' });
    expect(nextPeerState(down, { kind: 'conflict', reason: 'x' }, false, 't2')).toEqual({
      status: 'ONLINE',
      since: 't2',
      lastPingAt: 't1',
    });
  });

  it('is seen by every process, and a ping writes lastPingAt', async () => {
    const { health, states, peer } = setup();
    const other = new SharedPeerHealth({
      peers: new Map([['server2', peer as Peer]]),
      store: states,
      logger: silentLogger,
    });
    expect(await other.status('server2')).toBe('ONLINE');
    peer.answer = { kind: 'unauthorized', reason: 'HTTP 401' };
    await health.ping('server2');
    // `other` trusts the ONLINE it read for a few seconds; a fresh read sees the change, and from then on a peer
    // that is down is read afresh every time.
    expect(await other.state('server2')).toMatchObject({ status: 'UNAUTHORIZED', lastError: 'HTTP 401' });
    expect(await other.status('server2')).toBe('UNAUTHORIZED');
    expect((await other.state('server2')).lastPingAt).toBeDefined();
  });
});

describe('CloudSweeper', () => {
  function sweeper(
    journal: MemoryJournal,
    queue: QueueFigures,
    extra: Partial<ConstructorParameters<typeof CloudSweeper>[0]> = {},
  ) {
    const { health, peer, waitList, rung, redrive, states } = setup();
    const s = new CloudSweeper({
      store: journal.store,
      health,
      peers: [{ name: 'server2', pingIntervalSeconds: 60 }],
      redrive,
      queueDepth: async () => queue,
      waitList,
      logger: silentLogger,
      ...extra,
    });
    return { s, health, peer, waitList, rung, states };
  }

  it('re-drives every ready entry when no message is in flight, oldest first, and reports the backlog', async () => {
    const a = entry({ action: 'upload', path: '/user_homes/a/1', size: 10 });
    const b = entry({ action: 'delete', path: '/user_homes/a' });
    const c = entry({ action: 'makedir', path: '/user_homes/c' });
    const parked = entry({ action: 'makedir', path: '/user_homes/d', status: 'CONFLICT' });
    const { s, rung } = sweeper(new MemoryJournal(a, b, c, parked), { visible: 0, inFlight: 0, delayed: 0 });
    const report = await s.run();
    expect(rung).toHaveLength(1);
    expect(rung[0]!.ids).toEqual([a.id, c.id]);
    expect(rung[0]!.cause).toMatch(/^idle\.\d+$/);
    expect(report.peers[0]).toMatchObject({
      peer: 'server2',
      pending: 3,
      pendingBytes: 10,
      conflicts: 1,
      ready: 2,
      redriven: 2,
    });
  });

  it('while the queue is busy, re-drives only entries not announced for a while', async () => {
    const old = entry({
      action: 'makedir',
      path: '/user_homes/old',
      createdAt: new Date(Date.now() - 3_600_000).toISOString(),
    });
    const fresh = entry({ action: 'makedir', path: '/user_homes/new' });
    const { s, rung } = sweeper(new MemoryJournal(old, fresh), { visible: 5, inFlight: 2, delayed: 0 });
    await s.run();
    expect(rung.flatMap((r) => r.ids)).toEqual([old.id]);
  });

  it('while the queue is busy, retries a change the peer failed while ONLINE after 1, 2, 4 ... minutes', async () => {
    const ago = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();
    const once = entry({ action: 'makedir', path: '/user_homes/a', repeats: 1, attempts: 1, lastAttemptAt: ago(1.5) });
    const thrice = entry({ action: 'makedir', path: '/user_homes/b', repeats: 3, attempts: 3, lastAttemptAt: ago(3) });
    const down = entry({ action: 'makedir', path: '/user_homes/c', attempts: 4, lastAttemptAt: ago(3) });
    const { s, rung } = sweeper(new MemoryJournal(once, thrice, down), { visible: 5, inFlight: 2, delayed: 0 });
    await s.run();
    expect(rung).toEqual([{ ids: [once.id], cause: 'retry.1' }]); // `thrice` waits 4 minutes, `down` for a ping
  });

  it('while nothing is in flight, still lets a change the peer failed wait out its backoff', async () => {
    const ago = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();
    const once = entry({ action: 'makedir', path: '/user_homes/a', repeats: 1, attempts: 1, lastAttemptAt: ago(1.5) });
    const thrice = entry({ action: 'makedir', path: '/user_homes/b', repeats: 3, attempts: 3, lastAttemptAt: ago(3) });
    const fresh = entry({ action: 'makedir', path: '/user_homes/c' });
    const { s, rung } = sweeper(new MemoryJournal(once, thrice, fresh), { visible: 0, inFlight: 0, delayed: 0 });
    await s.run();
    expect(rung).toEqual([{ ids: [once.id, fresh.id], cause: expect.stringMatching(/^idle\.\d+$/) }]);
  });

  it('pings a peer that is down, and drives its whole backlog once it is back', async () => {
    const a = entry({ action: 'makedir', path: '/user_homes/a' });
    const { s, rung, health, peer } = sweeper(new MemoryJournal(a), { visible: 3, inFlight: 0, delayed: 0 });
    peer.answer = { kind: 'offline', reason: 'down' };
    await health.ping('server2');
    await s.run(); // pinged just now: not due yet, and nothing goes to a peer that is down
    expect(rung).toEqual([]);
    peer.answer = { kind: 'applied' };
    const due = sweeper(
      new MemoryJournal(a),
      { visible: 3, inFlight: 0, delayed: 0 },
      { health, peers: [{ name: 'server2', pingIntervalSeconds: 0 }] },
    );
    const report = await due.s.run();
    expect(report.peers[0]!.status).toBe('ONLINE');
    expect(due.rung.map((r) => r.cause)).toEqual([expect.stringMatching(/^online\./)]);
  });

  it('probes a peer that asked to wait (Retry-After) only once the wait is over', async () => {
    let now = new Date('2026-12-01T10:00:00.000Z');
    const a = entry({ action: 'makedir', path: '/user_homes/a' });
    const { s, health, peer } = sweeper(
      new MemoryJournal(a),
      { visible: 0, inFlight: 0, delayed: 0 },
      { now: () => now, peers: [{ name: 'server2', pingIntervalSeconds: 1 }] },
    );
    await health.record('server2', { kind: 'offline', reason: 'HTTP 429', status: 429, retryAfterMs: 120_000 });
    const { retryAt } = await health.state('server2');
    expect(retryAt).toBeDefined();
    expect(await health.probeStatus('server2')).toBe('OFFLINE'); // the replay policy does not probe it meanwhile
    expect(peer.probes).toBe(0);
    now = new Date(Date.parse(retryAt!) - 1000); // many ping intervals later, but before Retry-After
    await s.run();
    expect(peer.probes).toBe(0);
    now = new Date(Date.parse(retryAt!) + 1);
    const report = await s.run();
    expect(peer.probes).toBe(1);
    expect(report.peers[0]!.status).toBe('ONLINE');
  });

  it('probes an ONLINE peer when its ping is due, so that one gone down while idle is reported', async () => {
    // The health records lastPingAt by the real clock; the sweeper's runs later than that by `ahead`.
    let ahead = 0;
    const { s, health, peer } = sweeper(
      new MemoryJournal(),
      { visible: 0, inFlight: 0, delayed: 0 },
      { now: () => new Date(Date.now() + ahead) },
    );
    await s.run(); // never probed: due
    expect(peer.probes).toBe(1);
    ahead = 30_000;
    await s.run(); // probed 30 s ago, interval 60 s: not due
    expect(peer.probes).toBe(1);
    peer.answer = { kind: 'offline', reason: 'connect ECONNREFUSED' };
    ahead = 65_000;
    await s.run();
    expect(peer.probes).toBe(2);
    expect(await health.state('server2')).toMatchObject({ status: 'OFFLINE', lastError: 'connect ECONNREFUSED' });
  });

  it('while nothing is in flight, rings each ready entry with a cause of its own every minute', async () => {
    // The first ring found the entry busy (a dead process's claim); SQS would drop a second ring with the same
    // cause for five minutes.
    const a = entry({ action: 'makedir', path: '/user_homes/a' });
    let now = Date.now();
    const { s, rung } = sweeper(
      new MemoryJournal(a),
      { visible: 0, inFlight: 0, delayed: 0 },
      { now: () => new Date(now) },
    );
    await s.run();
    now += 60_000;
    await s.run();
    expect(rung.map((r) => r.ids)).toEqual([[a.id], [a.id]]);
    expect(new Set(rung.map((r) => r.cause)).size).toBe(2);
  });

  it('releases the waiters of a blocker that is gone', async () => {
    const waiter = entry({ action: 'makedir', path: '/user_homes/w' });
    const { s, rung, waitList } = sweeper(new MemoryJournal(waiter), { visible: 1, inFlight: 0, delayed: 0 });
    const blocker = new StampClock(() => Date.now() - 10 * 60_000).next(); // skipped or purged long ago
    await waitList.add({ lane: LANE, id: blocker }, waiter);
    const report = await s.run();
    expect(report.released).toBe(1);
    // Not `after.<blocker>`: that is the blocker's own release, which SQS would drop as a duplicate of this ring.
    expect(rung).toEqual([{ ids: [waiter.id], cause: `orphan.${blocker}` }]);
    expect(waitList.waiting).toEqual([]);
  });

  it('leaves the waiters of a blocker created after it listed the lanes for the blocker to release', async () => {
    // The sweep listed the lane; then B and W (overlapping, newer) were created, W registered on B. B is not in
    // the sweep's listing but very much in the journal: its completion rings W.
    const waiter = entry({ action: 'makedir', path: '/user_homes/w' });
    const { s, rung, waitList } = sweeper(new MemoryJournal(waiter), { visible: 1, inFlight: 0, delayed: 0 });
    const blocker = new StampClock(() => Date.now() + 1_000).next();
    await waitList.add({ lane: LANE, id: blocker }, waiter);
    const report = await s.run();
    expect(report.released).toBe(0);
    expect(rung).toEqual([]);
    expect(waitList.waiting).toHaveLength(1);
  });

  it('deletes the claims of entries no longer in the journal, and keeps the others', async () => {
    const kept = entry({ action: 'makedir', path: '/user_homes/w' });
    const claims = new MemoryClaims();
    const { s } = sweeper(new MemoryJournal(kept), { visible: 1, inFlight: 0, delayed: 0 }, { claims });
    await claims.take(kept);
    await claims.take({ lane: LANE, id: clock.next() }); // its holder died after purging it
    const report = await s.run();
    expect(report.orphanClaims).toBe(1);
    expect([...claims.held]).toEqual([`${LANE}/${kept.id}`]);
  });

  it('still re-drives when the claims cannot be cleaned up', async () => {
    const ready = entry({ action: 'makedir', path: '/user_homes/w' });
    const claims = new MemoryClaims();
    claims.removeOrphans = async () => {
      throw new Error('SlowDown');
    };
    const { s, rung } = sweeper(new MemoryJournal(ready), { visible: 0, inFlight: 0, delayed: 0 }, { claims });
    const report = await s.run();
    expect(report.orphanClaims).toBe(0);
    expect(rung.map((r) => r.ids)).toEqual([[ready.id]]);
  });
});

describe('autoPlay in cloud mode', () => {
  // As in the embedded relay (found by a review there): the first new change probed a peer whose Retry-After was
  // running, and ended the wait it asked for.
  async function rig(down: ReplayOutcome) {
    const health = new SharedPeerHealth({
      peers: new Map([['server2', new FakePeer() as Peer]]),
      store: new MemoryPeerStates(),
      logger: silentLogger,
      onlineCacheMs: 0,
    });
    await health.record('server2', down);
    const pings: string[] = [];
    const monitor = {
      state: (p: string) => health.state(p),
      ping: async (p: string) => {
        pings.push(p);
        return health.state(p);
      },
    };
    const doorbell = autoPlay({ ring: async () => {} }, health, monitor);
    await doorbell.ring([entry({ action: 'makedir', path: '/user_homes/a' })]);
    return pings;
  }

  it('pings a peer that is down when a change for it is rung, but not while it asked to wait', async () => {
    expect(await rig({ kind: 'offline', reason: 'connect ECONNREFUSED' })).toEqual(['server2']);
    expect(await rig({ kind: 'offline', reason: 'HTTP 429', status: 429, retryAfterMs: 60_000 })).toEqual([]);
  });
});
