import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import type { JournalEntry } from '../../src/core/entry.js';
import { PayloadTooLargeError } from '../../src/core/errors.js';
import { type JournalStore, SMALL_BODY_BYTES, type StoredBody } from '../../src/core/journal.js';
import { laneId } from '../../src/core/lane.js';
import { StampClock } from '../../src/core/stamp.js';

export interface StoreFixture {
  store: JournalStore;
  /** Opens the same journal again, as a restarted process would (closing the first one). */
  reopen(): Promise<JournalStore>;
  cleanup(): Promise<void>;
}

const clock = new StampClock();
const LANE = laneId('/user_homes', 'server2');
const OTHER_LANE = laneId('/user_homes', 'server3');

export function entry(overrides: Partial<JournalEntry> = {}): JournalEntry {
  return {
    id: clock.next(),
    lane: LANE,
    peer: 'server2',
    location: '/user_homes',
    action: 'makedir',
    path: '/user_homes/john',
    createdAt: new Date().toISOString(),
    status: 'PENDING',
    attempts: 0,
    ...overrides,
  };
}

/** The behaviour every JournalStore must have, run against each implementation. */
export function journalStoreConformance(name: string, open: () => Promise<StoreFixture>): void {
  const withStore = (test: (f: StoreFixture) => Promise<void>) => async () => {
    const fixture = await open();
    try {
      await test(fixture);
    } finally {
      await fixture.cleanup();
    }
  };

  describe(`JournalStore conformance: ${name}`, () => {
    it(
      'writes, reads, updates and purges an entry',
      withStore(async ({ store }) => {
        const e = entry({ path: '/user_homes/john/a b.txt', user: 'john' });
        await store.create([e]);
        expect(await store.read(e)).toEqual(e);
        await store.update({ ...e, status: 'CONFLICT', attempts: 1, lastError: 'MOVE: HTTP 412' });
        expect((await store.read(e))?.status).toBe('CONFLICT');
        await store.purge(e);
        expect(await store.read(e)).toBeUndefined();
        await store.purge(e); // idempotent
        expect(await store.list(LANE)).toEqual([]);
      }),
    );

    it(
      'lists a lane oldest first, with a cursor and a limit, and keeps lanes apart',
      withStore(async ({ store }) => {
        const entries = Array.from({ length: 25 }, (_, i) => entry({ path: `/user_homes/f${i}` }));
        const other = entry({ lane: OTHER_LANE, peer: 'server3' });
        // Written concurrently and out of order: listing still sorts by id.
        await store.create([...entries].reverse());
        await store.create([other]);
        const all = await store.list(LANE);
        expect(all.map((e) => e.id)).toEqual(entries.map((e) => e.id));
        const page = await store.list(LANE, { after: entries[9]!.id, limit: 5 });
        expect(page.map((e) => e.path)).toEqual(entries.slice(10, 15).map((e) => e.path));
        expect((await store.lanes()).sort()).toEqual([LANE, OTHER_LANE].sort());
        expect(await store.list(OTHER_LANE)).toEqual([other]);
        expect(await store.newestId()).toBe(other.id);
      }),
    );

    it(
      'streams a body in, reports its digest, copies it to other lanes and streams it out',
      withStore(async ({ store }) => {
        const content = Buffer.alloc(3 * 1024 * 1024 + 17, 'x');
        const e = entry({ action: 'upload', size: content.length, status: 'AWAITING_BODY' });
        const twin = { ...e, lane: OTHER_LANE, peer: 'server3' };
        await store.create([e, twin]);
        const digest = await store.writeBody(
          e,
          Readable.from([content.subarray(0, 1000), content.subarray(1000)]),
          content.length,
        );
        const sha256 = createHash('sha256').update(content).digest('hex');
        expect(digest).toEqual({ size: content.length, sha256 });
        expect(await store.bodyDigest(e)).toEqual(digest);
        await store.publish(
          [
            { ...e, status: 'PENDING' },
            { ...twin, status: 'PENDING' },
          ],
          e,
        );
        expect((await store.read(twin))?.status).toBe('PENDING');
        expect((await bodyBytes(await store.readBody(twin))).equals(content)).toBe(true);
        await store.purge(e);
        // Purging one lane's entry leaves the other lane's copy intact.
        expect((await bodyBytes(await store.readBody(twin))).equals(content)).toBe(true);
      }),
    );

    it(
      'hands back small bodies byte for byte at every size up to and past the one-piece limit',
      withStore(async ({ store }) => {
        for (const size of [0, 1, 4096, SMALL_BODY_BYTES, SMALL_BODY_BYTES + 1]) {
          const content = Buffer.alloc(size, size % 251);
          const e = entry({ action: 'upload', size, status: 'AWAITING_BODY', path: `/user_homes/s${size}` });
          await store.create([e]);
          await store.writeBody(e, Readable.from([content]), size);
          await store.publish([{ ...e, status: 'PENDING' }], e);
          const body = await store.readBody(e);
          if (Buffer.isBuffer(body)) expect(size).toBeLessThanOrEqual(SMALL_BODY_BYTES);
          expect((await bodyBytes(body)).equals(content)).toBe(true);
          await store.purge(e);
          expect(await store.read(e)).toBeUndefined();
        }
      }),
    );

    it(
      'journals a small upload with its body in one step, in every lane, durably (stores that offer it)',
      withStore(async ({ store, reopen }) => {
        if (!store.createWithBody) return;
        const content = Buffer.from('a small upload, journaled in one step');
        const sha256 = createHash('sha256').update(content).digest('hex');
        const e = entry({ action: 'upload', size: content.length, sha256, path: '/user_homes/one-step.txt' });
        const twin = { ...e, lane: OTHER_LANE, peer: 'server3' };
        await store.createWithBody([e, twin], Buffer.from(content), { size: content.length, sha256 });
        for (const copy of [e, twin]) {
          expect(await store.read(copy)).toEqual(copy);
          expect(await store.bodyDigest(copy)).toEqual({ size: content.length, sha256 });
          expect((await bodyBytes(await store.readBody(copy))).equals(content)).toBe(true);
        }
        const again = await reopen();
        expect(await again.list(LANE)).toEqual([e]);
        expect((await bodyBytes(await again.readBody(twin))).equals(content)).toBe(true);
        await again.purge(e);
        expect((await bodyBytes(await again.readBody(twin))).equals(content)).toBe(true);
      }),
    );

    it(
      'refuses a body larger than allowed and keeps nothing of it',
      withStore(async ({ store }) => {
        const e = entry({ action: 'upload', size: 10, status: 'AWAITING_BODY' });
        await store.create([e]);
        await expect(store.writeBody(e, Readable.from([Buffer.alloc(11)]), 10)).rejects.toBeInstanceOf(
          PayloadTooLargeError,
        );
        expect(await store.bodyDigest(e)).toBeUndefined();
        await expect(store.readBody(e)).rejects.toThrow(/no body/);
      }),
    );

    it(
      'discards a body',
      withStore(async ({ store }) => {
        const e = entry({ action: 'upload', size: 3, status: 'AWAITING_BODY' });
        await store.create([e]);
        await store.writeBody(e, Readable.from([Buffer.from('abc')]), 3);
        await store.discardBody(e);
        expect(await store.bodyDigest(e)).toBeUndefined();
      }),
    );

    it(
      'keeps everything across a reopen, digests included',
      withStore(async (fixture) => {
        const e = entry({ action: 'upload', size: 5, status: 'AWAITING_BODY' });
        const m = entry();
        await fixture.store.create([e, m]);
        await fixture.store.writeBody(e, Readable.from([Buffer.from('hello')]), 5);
        const reopened = await fixture.reopen();
        expect(await reopened.read(e)).toEqual(e);
        expect(await reopened.read(m)).toEqual(m);
        expect(await reopened.bodyDigest(e)).toEqual({
          size: 5,
          sha256: createHash('sha256').update('hello').digest('hex'),
        });
        expect(await reopened.newestId()).toBe(m.id);
      }),
    );

    it(
      'survives many concurrent writers in one lane',
      withStore(async ({ store }) => {
        const entries = Array.from({ length: 200 }, (_, i) => entry({ path: `/user_homes/c${i}` }));
        await Promise.all(entries.map((e) => store.create([e])));
        const listed = await store.list(LANE);
        expect(listed).toHaveLength(200);
        expect(listed.map((e) => e.id)).toEqual(entries.map((e) => e.id).sort());
        await Promise.all(entries.slice(0, 100).map((e) => store.purge(e)));
        expect(await store.list(LANE)).toHaveLength(100);
      }),
    );

    it(
      'reports update of a missing entry as not found',
      withStore(async ({ store }) => {
        await expect(store.update(entry())).rejects.toThrow(/no entry/);
      }),
    );
  });
}

/** The bytes of a stored body, whether the store handed out a buffer or a stream. */
function bodyBytes(body: StoredBody): Promise<Buffer> {
  return body instanceof Uint8Array ? Promise.resolve(Buffer.from(body)) : buffer(body);
}
