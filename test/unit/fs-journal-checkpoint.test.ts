import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FsJournalStore, JOURNAL_DIR } from '../../src/adapters/fs-journal/store.js';
import { entry } from '../support/journal-conformance.js';
import { tempDir } from '../support/tmp.js';

// What a checkpoint makes durable, observed through the two ways it has of doing so.
const seen = vi.hoisted(() => ({ syncfs: 0, fsynced: [] as string[] }));
vi.mock('../../src/adapters/fs-journal/syncfs.js', () => ({
  FileSystemSync: class {
    async sync() {
      seen.syncfs += 1;
      return true;
    }
    close() {}
  },
}));
vi.mock('../../src/adapters/durable-files/fsync.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/adapters/durable-files/fsync.js')>();
  return {
    ...real,
    fsyncPath: async (path: string) => {
      seen.fsynced.push(path);
      return real.fsyncPath(path);
    },
  };
});

describe('FsJournalStore checkpoint', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  async function uploads(count: number) {
    const tmp = await tempDir();
    // Checkpoints only when the test asks for one.
    const store = await FsJournalStore.open(tmp.dir, undefined, { checkpointIntervalMs: 3_600_000 });
    cleanups.push(async () => {
      await store.close();
      await tmp.remove();
    });
    const entries = Array.from({ length: count }, (_, i) =>
      entry({ action: 'upload', path: `/user_homes/f${i}`, size: 5 }),
    );
    const body = Buffer.from('hello');
    const digest = { size: 5, sha256: createHash('sha256').update(body).digest('hex') };
    for (const e of entries) await store.createWithBody([e], body, digest);
    const journal = join(tmp.dir, JOURNAL_DIR);
    seen.syncfs = 0;
    seen.fsynced = [];
    return { store, entries, journal };
  }

  it('syncs nothing of entries created and purged since the last one, only their lane', async () => {
    const { store, entries, journal } = await uploads(100);
    for (const e of entries) await store.purge(e); // replayed before their folders were written
    await store.checkpoint();
    expect(seen.syncfs).toBe(0);
    const lane = join(journal, entries[0]!.lane);
    expect(seen.fsynced.filter((p) => p.startsWith(journal)).sort()).toEqual([journal, lane]);
    for (const e of entries) expect(existsSync(join(lane, e.id))).toBe(false);
  });

  it('makes entries still in the journal durable (many at once: one syncfs)', async () => {
    const { store, entries, journal } = await uploads(100);
    await store.checkpoint();
    expect(seen.syncfs).toBe(1);
    for (const e of entries) expect(existsSync(join(journal, e.lane, e.id, 'upload'))).toBe(true);
  });
});
