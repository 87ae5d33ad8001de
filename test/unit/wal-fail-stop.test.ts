// The log is fail-stop (docs/journal.md: once a write or an fsync of the log failed, no change is acknowledged any
// more). An append already waiting in the group commit when the log broke was still acknowledged: the queued fsync
// ran after the failed one, and nothing looked at the failure.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { decodeSegment, type WalRecord, WriteAheadLog } from '../../src/adapters/fs-journal/wal.js';
import { fileHandlePrototype, tempDir } from '../support/tmp.js';

const put = (xml: string): WalRecord => ({ kind: 'put', entries: [{ lane: '0123456789abcdef', id: xml, xml }] });
const settle = (p: Promise<unknown>) =>
  p.then(
    () => 'acknowledged',
    (e: unknown) => `refused: ${String(e)}`,
  );

describe('write-ahead log fail-stop', () => {
  it('refuses an append that waited behind a failed fsync (EIO)', async () => {
    const tmp = await tempDir();
    const { wal } = await WriteAheadLog.open(tmp.dir);
    const proto = (await fileHandlePrototype(tmp.dir)) as { sync: () => Promise<void> };
    const realSync = proto.sync;
    let calls = 0;
    const spy = vi.spyOn(proto, 'sync').mockImplementation(function (this: unknown) {
      calls += 1;
      if (calls === 1) {
        return new Promise<void>((_, reject) =>
          setTimeout(() => reject(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' })), 30),
        );
      }
      return realSync.call(this);
    });
    try {
      const first = settle(wal.append(put('a'), undefined, async () => {}));
      await new Promise((r) => setTimeout(r, 5)); // the first fsync is running (and will fail)
      const second = settle(wal.append(put('b'), undefined, async () => {})); // joins the next fsync
      const results = [await first, await second];
      expect(results[0]).toMatch(/refused/);
      // After the failed fsync the log is broken: nothing may be acknowledged any more.
      const third = await settle(wal.append(put('c'), undefined, async () => {}));
      expect(third).toMatch(/refused/);
      expect(results[1], 'an append was acknowledged after the log failed').toMatch(/refused/);
    } finally {
      spy.mockRestore();
      await tmp.remove();
    }
  });

  it('refuses a small record written after a large record whose write then failed (a hole before it)', async () => {
    const tmp = await tempDir();
    const { wal } = await WriteAheadLog.open(tmp.dir);
    const proto = (await fileHandlePrototype(tmp.dir)) as unknown as {
      sync: () => Promise<void>;
      writev: (...args: unknown[]) => Promise<unknown>;
    };
    const realSync = proto.sync;
    let syncs = 0;
    const syncSpy = vi.spyOn(proto, 'sync').mockImplementation(function (this: unknown) {
      syncs += 1;
      // the first fsync is slow (a busy disk): the next group commit queues behind it
      if (syncs === 1) return new Promise<void>((r) => setTimeout(r, 40)).then(() => realSync.call(this));
      return realSync.call(this);
    });
    const writevSpy = vi
      .spyOn(proto, 'writev')
      .mockImplementation(
        () =>
          new Promise((_, reject) =>
            setTimeout(() => reject(Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' })), 10),
          ),
      );
    try {
      const a = settle(wal.append(put('a'), undefined, async () => {})); // fsync #1 starts (slow)
      const large = settle(wal.append(put('large'), Buffer.alloc(100 * 1024, 1), async () => {})); // async write, fails at 10 ms
      const b = settle(wal.append(put('b'), undefined, async () => {})); // written after the large one; queued fsync
      const results = { a: await a, large: await large, b: await b };
      const seg = join(tmp.dir, '000000000001.wal');
      const readable = decodeSegment(readFileSync(seg)).map(
        (r) => (r.record as { entries: { id: string }[] }).entries[0]!.id,
      );
      expect(results.large).toMatch(/refused/);
      if (results.b === 'acknowledged') expect(readable, 'acknowledged record b is not in the log').toContain('b');
      expect(results.b, 'acknowledged after the log failed').toMatch(/refused/);
    } finally {
      syncSpy.mockRestore();
      writevSpy.mockRestore();
      await tmp.remove();
    }
  });
});
