import { createHash } from 'node:crypto';
import { expect, it } from 'vitest';
import { FsJournalStore } from '../../src/adapters/fs-journal/store.js';
import type { JournalEntry } from '../../src/core/entry.js';
import type { JournalStore, StoredBody } from '../../src/core/journal.js';
import { overlaps } from '../../src/core/journal-view.js';
import { silentLogger } from '../../src/core/logger.js';
import { pathsOverlap } from '../../src/core/paths.js';
import type { Peer, ReplayOutcome } from '../../src/core/peer.js';
import { PeerHealth } from '../../src/core/peer-health.js';
import { Replayer, type ReplayerOptions } from '../../src/core/replayer.js';
import { seeded } from '../bench/stats.js';
import { entry } from '../support/journal-conformance.js';
import { waitFor } from '../support/node-client.js';
import { tempDir } from '../support/tmp.js';

/** A replayer of `store` to `peer` (server2), with its peer health. */
function replayerFor(
  store: JournalStore,
  peer: Peer,
  concurrency?: number,
  retry: Pick<ReplayerOptions, 'retryBaseMs' | 'retryMaxMs'> = {},
) {
  const health = new PeerHealth(new Map([['server2', peer]]), silentLogger);
  const replayer = new Replayer({
    store,
    peers: new Map([['server2', peer]]),
    health,
    logger: silentLogger,
    ...(concurrency === undefined ? {} : { concurrency }),
    ...retry,
  });
  return { replayer, health };
}

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
    const { replayer } = replayerFor(store, peer, concurrency === 8 ? undefined : concurrency); // 8 is the default
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
  const { replayer, health } = replayerFor(store, peer, 2);
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

/** A peer whose requests the test answers one at a time, in an order it picks: applied, or refused (CONFLICT). */
class AnsweringPeer implements Peer {
  readonly name = 'server2';
  readonly held: { entry: JournalEntry; answer: (outcome: ReplayOutcome) => void }[] = [];
  /** Applied by this peer, or skipped by the operator: what a newer overlapping entry may follow. */
  readonly done = new Set<string>();
  /** Entries sent while an older entry overlapping them was not done yet. */
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

/** The replayer's backoffs (private): `until` is 0 once the timer has fired. */
function backoffs(replayer: Replayer): Iterable<{ until: number }> {
  return (replayer as unknown as { backoff: Map<string, { until: number }> }).backoff.values();
}

// Folders, files in them, renames across them, deletes of parents: many entries hold others back, many do not.
const SHAPES: Partial<JournalEntry>[] = [
  { action: 'makedir', path: '/user_homes/a' },
  { action: 'makedir', path: '/user_homes/a/f1' },
  { action: 'makedir', path: '/user_homes/a/f2' },
  { action: 'delete', path: '/user_homes/a' },
  { action: 'makedir', path: '/user_homes/b/f1' },
  { action: 'rename', path: '/user_homes/a/f1', target: '/user_homes/b/f1' },
  { action: 'makedir', path: '/user_homes/c/d/e' },
  { action: 'delete', path: '/user_homes/c' },
];

it.each([
  { refused: 0, awaiting: 0, what: 'whatever order the peer answers in: what an answered entry held back goes next' },
  {
    refused: 0.15,
    awaiting: 0.08,
    what: 'with parked changes and bodies not yet committed: what they hold back waits, the rest goes, and retry, skip or commit lets it go',
  },
  {
    refused: 0.05,
    failed: 0.15,
    awaiting: 0.05,
    what: 'with failures while the peer is up: the failed change backs off, what it holds back waits, and it goes again after its wait',
  },
])('never stalls a lane, $what', async ({ refused, awaiting, failed = 0 }) => {
  for (const [seed, concurrency] of [
    [1, 1],
    [2, 2],
    [3, 3],
    [4, 8],
  ] as const) {
    const random = seeded(seed);
    const tmp = await tempDir();
    const store = await FsJournalStore.open(tmp.dir);
    const all = Array.from({ length: 150 }, (_, i) =>
      entry({
        // Every fourth entry on a path of its own: sendable beside the others.
        ...(i % 4 === 0
          ? { action: 'makedir', path: `/user_homes/own${i}` }
          : SHAPES[Math.floor(random() * SHAPES.length)]),
        // A three-step upload before its commit: what overlaps it waits too.
        ...(random() < awaiting ? { status: 'AWAITING_BODY' as const } : {}),
      }),
    );
    await store.create(all);
    const lane = all[0]!.lane;
    const peer = new AnsweringPeer(all);
    // Failed attempts wait 1–4 ms before the next: the backoff's timer, not the test, lets them go again.
    const { replayer, health } = replayerFor(store, peer, concurrency, { retryBaseMs: 1, retryMaxMs: 4 });
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
        // An entry backing off is tried again when its timer fires: wait for those timers before calling it a stall.
        for (const deadline = Date.now() + 5_000; peer.held.length === 0 && replayer.inFlight === 0; ) {
          if (![...backoffs(replayer)].some((b) => b.until > 0)) break;
          if (Date.now() > deadline) throw new Error(`${what(steps)}: a backoff timer never fired`);
          await new Promise((r) => setTimeout(r, 1));
        }
        if (peer.held.length > 0) {
          const [next] = peer.held.splice(Math.floor(random() * peer.held.length), 1);
          const roll = random();
          next!.answer(
            roll < refused
              ? { kind: 'conflict', reason: 'refused by the test' }
              : roll < refused + failed
                ? { kind: 'offline', reason: 'HTTP 500 from the test', status: 500 }
                : { kind: 'applied' },
          );
          continue;
        }
        if (replayer.inFlight > 0) continue; // sent again after its wait, on its way to the peer
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
      if (refused === 0 && awaiting === 0) expect(peer.done.size).toBe(all.length);
    } finally {
      await replayer.stop();
      health.close();
      await store.close();
      await tmp.remove();
    }
  }
});

it('replays paths that differ only in case or Unicode form oldest first: one path on a case-insensitive peer', async () => {
  const tmp = await tempDir();
  const store = await FsJournalStore.open(tmp.dir);
  // On IIS or a macOS server these are one folder and one file; the delete must land before what comes after it.
  const all = [
    entry({ action: 'delete', path: '/user_homes/docs' }),
    entry({ action: 'makedir', path: '/user_homes/Docs/x' }),
    entry({ action: 'makedir', path: '/user_homes/DOCS' }),
    entry({ action: 'makedir', path: '/user_homes/caf\u00e9' }),
    entry({ action: 'delete', path: '/user_homes/CAFE\u0301' }),
  ];
  await store.create(all);
  const peer = new AnsweringPeer(all);
  const { replayer, health } = replayerFor(store, peer);
  /** The test's own fold, so the check does not lean on the code under test. */
  const fold = (path: string) => path.toLowerCase().normalize('NFC');
  const sent: string[][] = [];
  try {
    await replayer.sweep();
    while (sent.length < 5) {
      await waitFor(async () => peer.held.length > 0, 5_000);
      await new Promise((r) => setTimeout(r, 20)); // let the replayer fill its slots with whatever it would send
      sent.push(peer.held.map((h) => fold(h.entry.path)));
      peer.held.shift()!.answer({ kind: 'applied' });
    }
    // Never two spellings of one path at the peer at once; each path's changes in journal order.
    const together = sent.filter((held) => held.some((p, i) => held.some((q, j) => j > i && pathsOverlap(p, q))));
    expect(together).toEqual([]);
    expect(peer.overtakes).toEqual([]);
    const order = sent.map((held) => held[0]);
    expect(order.filter((p) => p!.includes('docs'))).toEqual([
      '/user_homes/docs',
      '/user_homes/docs/x',
      '/user_homes/docs',
    ]);
  } finally {
    for (const h of peer.held) h.answer({ kind: 'applied' });
    await replayer.stop();
    health.close();
    await store.close();
    await tmp.remove();
  }
});
