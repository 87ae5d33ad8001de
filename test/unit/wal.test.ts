import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { FsJournalStore, JOURNAL_DIR, WAL_DIR } from '../../src/adapters/fs-journal/store.js';
import { decodeSegment, encodeRecord, type WalRecord, WriteAheadLog } from '../../src/adapters/fs-journal/wal.js';
import { encodeEntry } from '../../src/core/entry-xml.js';
import { entry } from '../support/journal-conformance.js';
import { fileHandlePrototype, tempDir } from '../support/tmp.js';

const put = (xml: string, lane = '0123456789abcdef', id = 'x'): WalRecord => ({
  kind: 'put',
  entries: [{ lane, id, xml }],
});

describe('write-ahead log records', () => {
  it('round-trips records with and without a body', () => {
    const body = Buffer.from('body bytes');
    const bytes = Buffer.concat([
      encodeRecord(put('<a/>'), body),
      encodeRecord({ kind: 'purge', refs: [{ lane: 'l', id: 'i' }] }, undefined),
    ]);
    const records = decodeSegment(bytes);
    expect(records).toHaveLength(2);
    expect(records[0]).toEqual({ record: put('<a/>'), body });
    expect(records[1]).toEqual({ record: { kind: 'purge', refs: [{ lane: 'l', id: 'i' }] } });
  });

  it('keeps reading after a record with an empty body, however the empty bytes were made', () => {
    // Node's crc32 answers 0 for an empty view of a zero-length ArrayBuffer, whatever the starting value: such a
    // body once gave its record a checksum that never matched, which ended the log there (every later
    // acknowledged change lost at the next start).
    const empties = [Buffer.alloc(0), Buffer.from(new Uint8Array(0).buffer, 0, 0)];
    for (const empty of empties) {
      const bytes = Buffer.concat([encodeRecord(put('<empty/>'), empty), encodeRecord(put('<after/>'), undefined)]);
      expect(decodeSegment(bytes).map((r) => r.record)).toEqual([put('<empty/>'), put('<after/>')]);
    }
  });

  it('stops at a torn or corrupted tail: what was never acknowledged', () => {
    const one = encodeRecord(put('<one/>'), undefined);
    const two = encodeRecord(put('<two/>'), Buffer.alloc(100, 1));
    expect(decodeSegment(Buffer.concat([one, two.subarray(0, two.length - 1)]))).toHaveLength(1);
    const flipped = Buffer.from(two);
    flipped.writeUInt8(flipped.readUInt8(flipped.length - 1) ^ 0xff, flipped.length - 1);
    expect(decodeSegment(Buffer.concat([one, flipped]))).toHaveLength(1);
    expect(decodeSegment(Buffer.concat([one, Buffer.alloc(12)]))).toHaveLength(1);
  });

  it('shares fsyncs between concurrent appends, and checkpoints by segment', async () => {
    const tmp = await tempDir();
    const { wal } = await WriteAheadLog.open(tmp.dir);
    // Count the log's fsyncs: FileHandle.sync of any handle.
    const sync = vi.spyOn(await fileHandlePrototype(tmp.dir), 'sync');
    try {
      await Promise.all(Array.from({ length: 50 }, (_, i) => wal.append(put(`<n${i}/>`), undefined, async () => {})));
      // One fsync for the first append, one shared by the 49 that arrived while it ran (group commit).
      expect(sync.mock.calls.length).toBeGreaterThanOrEqual(1);
      expect(sync.mock.calls.length).toBeLessThanOrEqual(3);
    } finally {
      sync.mockRestore();
    }
    expect(wal.dirty).toBe(true);
    const flushed: WalRecord[] = [];
    await wal.checkpoint(async (records) => {
      flushed.push(...records);
    });
    expect(flushed).toHaveLength(50);
    expect(wal.dirty).toBe(false);
    await wal.close(async () => {});
    expect(await readdir(tmp.dir)).toEqual([]);
    await tmp.remove();
  });

  it('acknowledges a background append at its fsync, and waits for its writes before a checkpoint', async () => {
    const tmp = await tempDir();
    const { wal } = await WriteAheadLog.open(tmp.dir);
    let finish!: () => void;
    const writes = new Promise<void>((resolve) => (finish = resolve));
    await wal.append(put('<bg/>'), Buffer.from('body'), () => writes, 'background'); // resolves before `writes`
    let flushed = false;
    const checkpoint = wal.checkpoint(async () => {
      flushed = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(flushed).toBe(false); // the writes are still running: the segment must stay
    finish();
    await checkpoint;
    expect(flushed).toBe(true);
    await wal.close(async () => {});
    await tmp.remove();
  });

  it('stops acknowledging for good once a write to the log itself fails (fail-stop)', async () => {
    const tmp = await tempDir();
    const { wal } = await WriteAheadLog.open(tmp.dir);
    await wal.append(put('<before/>'), undefined, async () => {});
    // The log's file descriptor goes bad under it (what a dying disk or a forced unmount looks like to us).
    const segment = (wal as unknown as { current: { handle: { fd: number; close(): Promise<void> } } }).current;
    const { closeSync } = await import('node:fs');
    closeSync(segment.handle.fd);
    let ran = false;
    const writes = async () => {
      ran = true;
    };
    await expect(wal.append(put('<lost/>'), undefined, writes)).rejects.toThrow(/no change is accepted/);
    expect(ran).toBe(false); // nothing written to the journal for a record the log does not hold
    await expect(wal.append(put('<later/>'), undefined, async () => {})).rejects.toThrow(/no change is accepted/);
    // Mark the handle closed (EBADF), so that garbage collection never closes a descriptor number reused since.
    await segment.handle.close().catch(() => undefined);
    await tmp.remove();
  });

  it('answers a `logged` append before its writes are done, and drops its segment only after them', async () => {
    const tmp = await tempDir();
    const { wal } = await WriteAheadLog.open(tmp.dir);
    let finish!: () => void;
    const writing = new Promise<void>((resolve) => {
      finish = resolve;
    });
    await wal.append({ kind: 'purge', refs: [{ lane: 'l', id: 'i' }] }, undefined, () => writing, 'logged');
    const segments = async () => (await readdir(tmp.dir)).filter((n) => n.endsWith('.wal'));
    const [segment] = await segments();
    let checkpointed = false;
    const checkpoint = wal
      .checkpoint(async () => {})
      .then(() => {
        checkpointed = true;
      });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(checkpointed).toBe(false); // the checkpoint waits for the writes the record stands for
    expect(await segments()).toContain(segment);
    finish();
    await checkpoint;
    expect(await segments()).not.toContain(segment);
    // A write that fails keeps the segment for the next start, as in every other mode.
    await wal.append(put('<kept/>'), undefined, () => Promise.reject(new Error('EIO')), 'logged');
    await expect(wal.checkpoint(async () => {})).rejects.toThrow(/EIO/);
    await expect(wal.close(async () => {})).rejects.toThrow(/keeps everything/);
    const { wal: reopened, leftover } = await WriteAheadLog.open(tmp.dir);
    expect(leftover.map((l) => l.record.kind)).toEqual(['put']);
    await reopened.close(async () => {});
    await tmp.remove();
  });

  it('keeps the failed segment and every later one once a journal write failed, for the next start', async () => {
    const tmp = await tempDir();
    const { wal } = await WriteAheadLog.open(tmp.dir);
    await wal.append(put('<lost/>'), Buffer.from('x'), () => Promise.reject(new Error('ENOSPC')), 'background');
    await expect(wal.checkpoint(async () => {})).rejects.toThrow(/ENOSPC/);
    await wal.append({ kind: 'purge', refs: [{ lane: 'l', id: 'i' }] }, undefined, async () => {}, 'lazy');
    await expect(wal.checkpoint(async () => {})).rejects.toThrow(/keeps everything/);
    await expect(wal.close(async () => {})).rejects.toThrow(/keeps everything/);
    const { wal: reopened, leftover } = await WriteAheadLog.open(tmp.dir);
    expect(leftover.map((l) => l.record.kind)).toEqual(['put', 'purge']);
    expect(leftover[0]!.body?.toString()).toBe('x');
    await reopened.close(async () => {});
    await tmp.remove();
  });
});

describe('FsJournalStore redo from the log', () => {
  it('restores acknowledged entries whose journal files a power loss took, and re-applies purges', async () => {
    const tmp = await tempDir();
    const upload = entry({
      action: 'upload',
      size: 5,
      status: 'PENDING',
      sha256: createHash('sha256').update('hello').digest('hex'),
    });
    const twin = { ...upload, lane: '00000000000000aa', peer: 'server3' };
    const gone = entry();
    // What a power loss leaves: the log holds the records, the journal folder lost the unsynced files.
    await mkdir(join(tmp.dir, WAL_DIR), { recursive: true });
    await mkdir(join(tmp.dir, JOURNAL_DIR, gone.lane, gone.id), { recursive: true });
    await writeFile(join(tmp.dir, JOURNAL_DIR, gone.lane, gone.id, 'config.XML'), encodeEntry(gone));
    const segment = Buffer.concat([
      encodeRecord(
        {
          kind: 'put',
          entries: [upload, twin].map((e) => ({ lane: e.lane, id: e.id, xml: encodeEntry(e) })),
          body: { lane: upload.lane, id: upload.id, size: 5 },
        },
        Buffer.from('hello'),
      ),
      encodeRecord({ kind: 'purge', refs: [{ lane: gone.lane, id: gone.id }] }, undefined),
    ]);
    await writeFile(join(tmp.dir, WAL_DIR, '000000000001.wal'), segment);

    const store = await FsJournalStore.open(tmp.dir);
    expect(await store.read(upload)).toEqual(upload);
    expect(await store.read(twin)).toEqual(twin);
    expect(await store.read(gone)).toBeUndefined();
    for (const e of [upload, twin]) expect(await readFile(join(store.entryDir(e), 'upload'), 'utf8')).toBe('hello');
    await store.close();
    expect(await readdir(join(tmp.dir, WAL_DIR))).toEqual([]);
    await tmp.remove();
  });

  it('keeps a config.XML written after the record (an update wins over the logged version)', async () => {
    const tmp = await tempDir();
    const e = entry();
    const updated = { ...e, status: 'CONFLICT' as const, attempts: 1, lastError: 'HTTP 412' };
    await mkdir(join(tmp.dir, WAL_DIR), { recursive: true });
    await mkdir(join(tmp.dir, JOURNAL_DIR, e.lane, e.id), { recursive: true });
    await writeFile(join(tmp.dir, JOURNAL_DIR, e.lane, e.id, 'config.XML'), encodeEntry(updated));
    await writeFile(
      join(tmp.dir, WAL_DIR, '000000000007.wal'),
      encodeRecord(put(encodeEntry(e), e.lane, e.id), undefined),
    );
    const store = await FsJournalStore.open(tmp.dir);
    expect(await store.read(e)).toEqual(updated);
    await store.close();
    await tmp.remove();
  });
});
