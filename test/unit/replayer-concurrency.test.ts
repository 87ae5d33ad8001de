import { createHash } from 'node:crypto';
import { expect, it } from 'vitest';
import { FsJournalStore } from '../../src/adapters/fs-journal/store.js';
import type { JournalEntry } from '../../src/core/entry.js';
import type { StoredBody } from '../../src/core/journal.js';
import { overlaps } from '../../src/core/journal-view.js';
import { silentLogger } from '../../src/core/logger.js';
import type { Peer, ReplayOutcome } from '../../src/core/peer.js';
import { PeerHealth } from '../../src/core/peer-health.js';
import { Replayer } from '../../src/core/replayer.js';
import { seeded } from '../bench/stats.js';
import { entry } from '../support/journal-conformance.js';
import { waitFor } from '../support/node-client.js';
import { tempDir } from '../support/tmp.js';

/** A peer that holds every request until released, and records how many were in flight at once. */
class SlowPeer implements Peer {
  readonly name = 'server2';
  inFlight = 0;
  mostInFlight = 0;
  readonly order: string[] = [];
  /** Paths being applied right now; a second request for one of them while it is in flight is a violation. */
  private readonly busy = new Set<string>();
  overlaps = 0;
  private waiting: (() => void)[] = [];
  async probe(): Promise<ReplayOutcome> {
    return { kind: 'applied' };
  }
  async apply(e: JournalEntry): Promise<ReplayOutcome> {
    this.inFlight += 1;
    this.mostInFlight = Math.max(this.mostInFlight, this.inFlight);
    if (this.busy.has(e.path)) this.overlaps += 1;
    this.busy.add(e.path);
    await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.busy.delete(e.path);
    this.order.push(e.id);
    this.inFlight -= 1;
    return { kind: 'applied' };
  }
  releaseAll(): void {
    for (const release of this.waiting.splice(0)) release();
  }
  async close(): Promise<void> {}
}

it.each([8, 3])(
  'replays unrelated paths side by side, at most %i at a time, and overlapping ones in order',
  async (concurrency) => {
    const tmp = await tempDir();
    const store = await FsJournalStore.open(tmp.dir);
    const peer = new SlowPeer();
    const health = new PeerHealth(new Map([['server2', peer]]), silentLogger);
    const replayer = new Replayer({
      store,
      peers: new Map([['server2', peer]]),
      health,
      logger: silentLogger,
      ...(concurrency === 8 ? {} : { concurrency }), // 8 is the default
    });
    // 20 unrelated files, and three changes to one file that must go one after the other.
    const unrelated = Array.from({ length: 20 }, (_, i) => entry({ action: 'makedir', path: `/user_homes/u${i}` }));
    const same = ['a', 'b', 'c'].map(() => entry({ action: 'makedir', path: '/user_homes/same' }));
    await store.create([same[0]!, ...unrelated.slice(0, 10), same[1]!, ...unrelated.slice(10), same[2]!]);

    await replayer.sweep();
    const deadline = Date.now() + 10_000;
    while ((await store.list(same[0]!.lane)).length > 0 && Date.now() < deadline) {
      await waitFor(async () => peer.inFlight > 0, 5_000);
      await new Promise((r) => setTimeout(r, 20)); // let the replayer fill its slots
      peer.releaseAll();
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(await store.list(same[0]!.lane)).toEqual([]);
    expect(peer.mostInFlight).toBe(concurrency);
    expect(peer.overlaps).toBe(0);
    const sameIds = same.map((e) => e.id);
    expect(peer.order.filter((id) => sameIds.includes(id))).toEqual(sameIds);
    await replayer.stop();
    await store.close();
    await tmp.remove();
  },
);

/** A SlowPeer that opens each body as a real peer does, and counts the bytes it got. */
class ReadingPeer extends SlowPeer {
  bytes = 0;
  override async apply(e: JournalEntry, open?: () => Promise<StoredBody>): Promise<ReplayOutcome> {
    const body = await open!();
    if (body instanceof Uint8Array) this.bytes += body.length;
    else for await (const chunk of body) this.bytes += (chunk as Uint8Array).length;
    return super.apply(e);
  }
}

it('reads at most `concurrency` bodies ahead per peer while its slots are busy, and sends each body read once', async () => {
  const tmp = await tempDir();
  const fs = await FsJournalStore.open(tmp.dir);
  let reads = 0;
  const store = new Proxy(fs, {
    get: (target, key) =>
      key === 'readBody'
        ? (...args: Parameters<FsJournalStore['readBody']>) => {
            reads += 1;
            return target.readBody(...args);
          }
        : Reflect.get(target, key),
  });
  const peer = new ReadingPeer();
  const health = new PeerHealth(new Map([['server2', peer]]), silentLogger);
  const replayer = new Replayer({
    store,
    peers: new Map([['server2', peer]]),
    health,
    logger: silentLogger,
    concurrency: 2,
  });
  try {
    const body = Buffer.from('a small body');
    const digest = { size: body.length, sha256: createHash('sha256').update(body).digest('hex') };
    const uploads = Array.from({ length: 10 }, (_, i) =>
      entry({ action: 'upload', path: `/user_homes/u${i}.txt`, size: body.length, sha256: digest.sha256 }),
    );
    for (const e of uploads) await fs.createWithBody!([e], body, digest);
    await replayer.sweep();
    await waitFor(async () => peer.inFlight === 2, 5_000);
    await waitFor(async () => reads === 4, 5_000); // two being sent, two read ahead
    // Another upload rung meanwhile: slots and lookahead are used up, nothing more is read.
    const extra = entry({ action: 'upload', path: '/user_homes/extra.txt', size: body.length, sha256: digest.sha256 });
    await fs.createWithBody!([extra], body, digest);
    await replayer.ring([extra]);
    await new Promise((r) => setTimeout(r, 20));
    expect(reads).toBe(4);
    while ((await fs.list(uploads[0]!.lane)).length > 0) {
      await waitFor(async () => peer.inFlight > 0 || (await fs.list(uploads[0]!.lane)).length === 0, 5_000);
      peer.releaseAll();
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(peer.order).toHaveLength(11);
    expect(reads).toBe(11); // a body read ahead is the one sent: never read twice
    expect(peer.bytes).toBe(11 * body.length);
  } finally {
    await replayer.stop();
    health.close();
    await fs.close();
    await tmp.remove();
  }
});

/** A peer whose requests the test answers one at a time, in an order it picks. */
class HeldPeer implements Peer {
  readonly name = 'server2';
  readonly held: { entry: JournalEntry; answer: () => void }[] = [];
  readonly answered = new Set<string>();
  /** Entries sent while an older entry overlapping them had not been answered yet. */
  readonly overtakes: string[] = [];
  private wake: (() => void) | undefined;
  constructor(private readonly all: readonly JournalEntry[]) {}
  /** Resolves once a request is held; fails after `timeoutMs` without one (a stalled lane). */
  async someHeld(timeoutMs: number, what: string): Promise<void> {
    if (this.held.length > 0) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        this.wake = resolve;
        timer = setTimeout(() => reject(new Error(`no request within ${timeoutMs} ms: ${what}`)), timeoutMs);
      });
    } finally {
      clearTimeout(timer);
      this.wake = undefined;
    }
  }
  async probe(): Promise<ReplayOutcome> {
    return { kind: 'applied' };
  }
  async apply(e: JournalEntry): Promise<ReplayOutcome> {
    for (const older of this.all) {
      if (older.id < e.id && overlaps(older, e) && !this.answered.has(older.id)) this.overtakes.push(e.id);
    }
    await new Promise<void>((resolve) => {
      this.held.push({ entry: e, answer: resolve });
      this.wake?.();
    });
    this.answered.add(e.id);
    return { kind: 'applied' };
  }
  async close(): Promise<void> {}
}

it('never stalls a lane, whatever order the peer answers in: what an answered entry held back goes next', async () => {
  // Folders, files in them, renames across them: many entries hold others back, many do not.
  const shapes: Partial<JournalEntry>[] = [
    { action: 'makedir', path: '/user_homes/a' },
    { action: 'makedir', path: '/user_homes/a/f1' },
    { action: 'makedir', path: '/user_homes/a/f2' },
    { action: 'makedir', path: '/user_homes/b' },
    { action: 'delete', path: '/user_homes/b/f1' },
    { action: 'rename', path: '/user_homes/a/f1', target: '/user_homes/b/f1' },
    { action: 'makedir', path: '/user_homes/c/d/e' },
    { action: 'delete', path: '/user_homes/c' },
  ];
  for (const [seed, concurrency] of [
    [1, 1],
    [2, 2],
    [3, 3],
    [4, 8],
  ] as const) {
    const random = seeded(seed);
    const tmp = await tempDir();
    const store = await FsJournalStore.open(tmp.dir);
    const all = Array.from({ length: 120 }, (_, i) =>
      // Every third entry on a path of its own: sendable beside the others.
      entry(
        i % 3 === 0 ? { action: 'makedir', path: `/user_homes/own${i}` } : shapes[Math.floor(random() * shapes.length)],
      ),
    );
    await store.create(all);
    const peer = new HeldPeer(all);
    const health = new PeerHealth(new Map([['server2', peer]]), silentLogger);
    const replayer = new Replayer({
      store,
      peers: new Map([['server2', peer]]),
      health,
      logger: silentLogger,
      concurrency,
    });
    try {
      await replayer.sweep(); // once: from here on only the replayer's own dispatches move the lane
      let answered = 0;
      while (answered < all.length) {
        // A lane that stalls has nothing in flight and entries left: this wait then fails.
        await peer.someHeld(5_000, `seed ${seed}: the lane stalled after ${answered} answers`);
        const [next] = peer.held.splice(Math.floor(random() * peer.held.length), 1);
        next!.answer();
        answered += 1;
      }
      await waitFor(async () => replayer.inFlight === 0, 5_000);
      expect(await store.list(all[0]!.lane), `seed ${seed}`).toEqual([]);
      expect(peer.overtakes, `seed ${seed}`).toEqual([]);
      expect(peer.answered.size).toBe(all.length);
    } finally {
      await replayer.stop();
      health.close();
      await store.close();
      await tmp.remove();
    }
  }
});

/** A peer that answers as the test says: applied, or refused (the entry is parked as CONFLICT). */
class ParkingPeer implements Peer {
  readonly name = 'server2';
  readonly held: { entry: JournalEntry; answer: (outcome: ReplayOutcome) => void }[] = [];
  /** Applied by this peer, or skipped by the operator: what a newer overlapping entry may follow. */
  readonly done = new Set<string>();
  readonly overtakes: string[] = [];
  constructor(private readonly all: readonly JournalEntry[]) {}
  async probe(): Promise<ReplayOutcome> {
    return { kind: 'applied' };
  }
  async apply(e: JournalEntry): Promise<ReplayOutcome> {
    for (const older of this.all) {
      if (older.id < e.id && overlaps(older, e) && !this.done.has(older.id)) this.overtakes.push(e.id);
    }
    const outcome = await new Promise<ReplayOutcome>((answer) => this.held.push({ entry: e, answer }));
    if (outcome.kind === 'applied') this.done.add(e.id);
    return outcome;
  }
  async close(): Promise<void> {}
}

it('never stalls a lane with parked changes: what they hold back waits, the rest goes, and retry, skip or commit lets it go', async () => {
  const shapes: Partial<JournalEntry>[] = [
    { action: 'makedir', path: '/user_homes/a' },
    { action: 'makedir', path: '/user_homes/a/f1' },
    { action: 'delete', path: '/user_homes/a' },
    { action: 'makedir', path: '/user_homes/b/f1' },
    { action: 'rename', path: '/user_homes/a/f1', target: '/user_homes/b/f1' },
    { action: 'makedir', path: '/user_homes/c/d/e' },
    { action: 'delete', path: '/user_homes/c' },
  ];
  for (const [seed, concurrency] of [
    [5, 1],
    [6, 2],
    [7, 3],
    [8, 8],
  ] as const) {
    const random = seeded(seed);
    const tmp = await tempDir();
    const store = await FsJournalStore.open(tmp.dir);
    const all = Array.from({ length: 150 }, (_, i) =>
      entry({
        ...(i % 4 === 0
          ? { action: 'makedir', path: `/user_homes/own${i}` }
          : shapes[Math.floor(random() * shapes.length)]),
        // Some wait for a body (a three-step upload before its commit): what overlaps them waits too.
        ...(random() < 0.08 ? { status: 'AWAITING_BODY' as const } : {}),
      }),
    );
    await store.create(all);
    const lane = all[0]!.lane;
    const peer = new ParkingPeer(all);
    const health = new PeerHealth(new Map([['server2', peer]]), silentLogger);
    const replayer = new Replayer({
      store,
      peers: new Map([['server2', peer]]),
      health,
      logger: silentLogger,
      concurrency,
    });
    const what = (steps: number) => `seed ${seed}, step ${steps}`;
    try {
      await replayer.sweep(); // once: from here on only dispatches, rings and answers move the lane
      for (let steps = 0; ; steps++) {
        expect(steps, what(steps)).toBeLessThan(5_000);
        // Until the peer is asked something, or nothing is in flight (a purge or an update takes a few ticks).
        for (const deadline = Date.now() + 5_000; peer.held.length === 0 && replayer.inFlight > 0; ) {
          if (Date.now() > deadline) throw new Error(`${what(steps)}: a replay never finished`);
          await new Promise((r) => setTimeout(r, 1));
        }
        if (peer.held.length > 0) {
          const [next] = peer.held.splice(Math.floor(random() * peer.held.length), 1);
          next!.answer(random() < 0.15 ? { kind: 'conflict', reason: 'refused by the test' } : { kind: 'applied' });
          continue;
        }
        // Nothing in flight and nothing asked: every entry left must be waiting for an operator (or a body).
        const left = await store.list(lane);
        if (left.length === 0) break;
        const waiting = left.filter((e) => e.status !== 'PENDING');
        expect(waiting.length, `${what(steps)}: PENDING entries left with nothing in flight (a stall)`).toBeGreaterThan(
          0,
        );
        const chosen = waiting[Math.floor(random() * waiting.length)]!;
        if (chosen.status === 'AWAITING_BODY' || random() < 0.6) {
          await store.update({ ...chosen, status: 'PENDING' }); // commit, or retry
        } else {
          await store.purge(chosen); // skip
          peer.done.add(chosen.id);
        }
        await replayer.ring([chosen]);
      }
      expect(peer.overtakes, `seed ${seed}`).toEqual([]);
    } finally {
      await replayer.stop();
      health.close();
      await store.close();
      await tmp.remove();
    }
  }
});
