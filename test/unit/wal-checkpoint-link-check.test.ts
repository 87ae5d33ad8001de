// A large record (> 64 KiB, e.g. a small upload's body) whose append is in flight when a checkpoint starts asks for
// one more fsync of the old segment, which may end after the checkpoint closed the segment's handle (fd -1). The
// log's check that its file is still in a folder must not take that for a removed journal and break the log down
// (fail-stop: every change refused until a restart, though nothing was removed).
import { expect, it, vi } from 'vitest';
import { type WalRecord, WriteAheadLog } from '../../src/adapters/fs-journal/wal.js';
import { fileHandlePrototype, tempDir } from '../support/tmp.js';

const put = (xml: string): WalRecord => ({ kind: 'put', entries: [{ lane: '0123456789abcdef', id: xml, xml }] });

it('a healthy log is not broken down by an fsync of a segment the checkpoint is closing', async () => {
  const tmp = await tempDir();
  const { wal } = await WriteAheadLog.open(tmp.dir);
  const proto = (await fileHandlePrototype(tmp.dir)) as unknown as {
    sync: () => Promise<void>;
    writev: (...args: unknown[]) => Promise<unknown>;
  };
  const realSync = proto.sync;
  const realWritev = proto.writev;
  let syncs = 0;
  const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const s1 = vi.spyOn(proto, 'sync').mockImplementation(async function (this: unknown) {
    syncs += 1;
    await realSync.call(this);
    // The queued fsync of the old segment ends late (a busy disk). The real slow syscall holds the handle's ref,
    // so its close() waits for it and sets fd = -1 as the fsync returns: the same state this delay produces.
    if (syncs === 3) await delay(50); // #1: the folder fsync of the new segment; #2: the checkpoint's fsync; #3: the queued one
  });
  const s2 = vi.spyOn(proto, 'writev').mockImplementation(async function (this: unknown, ...args: unknown[]) {
    await delay(20); // the large record's write through the thread pool
    return realWritev.apply(this, args);
  });
  try {
    const large = wal
      .append(put('big'), Buffer.alloc(100 * 1024, 1), async () => {})
      .then(
        () => 'acknowledged',
        (e: unknown) => `refused: ${String(e)}`,
      );
    await delay(1);
    const checkpoint = wal
      .checkpoint(async () => void (await delay(5))) // the flush: fsyncs of the journal files
      .then(
        () => 'ok',
        (e: unknown) => `failed: ${String(e)}`,
      );
    expect({ large: await large, checkpoint: await checkpoint, failure: wal.failure }).toEqual({
      large: 'acknowledged',
      checkpoint: 'ok',
      failure: undefined,
    });
  } finally {
    s1.mockRestore();
    s2.mockRestore();
    await tmp.remove();
  }
});
