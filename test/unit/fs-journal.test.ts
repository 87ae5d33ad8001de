import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JournalLockedError } from '../../src/adapters/fs-journal/lock.js';
import { FsJournalStore, JOURNAL_DIR } from '../../src/adapters/fs-journal/store.js';
import { encodeEntry } from '../../src/core/entry-xml.js';
import { SMALL_BODY_BYTES } from '../../src/core/journal.js';
import { entry, journalStoreConformance } from '../support/journal-conformance.js';
import { tempDir } from '../support/tmp.js';

journalStoreConformance('filesystem', async () => {
  const tmp = await tempDir();
  let store = await FsJournalStore.open(tmp.dir);
  return {
    get store() {
      return store;
    },
    reopen: async () => {
      await store.close();
      store = await FsJournalStore.open(tmp.dir);
      return store;
    },
    cleanup: async () => {
      await store.close();
      await tmp.remove();
    },
  };
});

describe('FsJournalStore on disk', () => {
  it('lays entries out as multi_journal/<lane>/<id>/config.XML', async () => {
    const tmp = await tempDir();
    const store = await FsJournalStore.open(tmp.dir);
    const e = entry();
    await store.create([e]);
    const xml = await readFile(join(tmp.dir, JOURNAL_DIR, e.lane, e.id, 'config.XML'), 'utf8');
    expect(xml).toBe(encodeEntry(e));
    await store.close();
    await tmp.remove();
  });

  it('removes the folder of a purged entry on the I/O thread, and waits for it only once that thread falls behind', async () => {
    const tmp = await tempDir();
    const onDisk = async (e: { lane: string; id: string }) =>
      (await readdir(join(tmp.dir, JOURNAL_DIR, e.lane)).catch((): string[] => [])).includes(e.id);
    // Default: the purge is done once its record is logged; the folder is gone by the time the store is closed.
    let store = await FsJournalStore.open(tmp.dir);
    const first = entry({ path: '/user_homes/first.txt' });
    await store.create([first]);
    expect(await onDisk(first)).toBe(true);
    await store.purge(first);
    expect(await store.read(first)).toBeUndefined();
    await store.close();
    expect(await onDisk(first)).toBe(false);
    // A thread that is behind (here: always) is waited for: the folder is gone when the purge is done.
    store = await FsJournalStore.open(tmp.dir, () => {}, { maxFoldersBehind: 0 });
    const second = entry({ path: '/user_homes/second.txt' });
    await store.create([second]);
    await store.purge(second);
    expect(await onDisk(second)).toBe(false);
    await store.close();
    await tmp.remove();
  });

  it('clears what a crash leaves behind: folders without or with an empty config.XML, temporary files, half purges', async () => {
    const tmp = await tempDir();
    const store = await FsJournalStore.open(tmp.dir);
    const kept = entry();
    await store.create([kept]);
    await store.close();
    const laneDir = join(tmp.dir, JOURNAL_DIR, kept.lane);
    const orphan = entry();
    await mkdir(join(laneDir, orphan.id)); // crashed between mkdir and config.XML
    const cut = entry(); // crashed between creating config.XML and writing it, no log record behind it
    await mkdir(join(laneDir, cut.id));
    await writeFile(join(laneDir, cut.id, 'upload'), 'body');
    await writeFile(join(laneDir, cut.id, 'config.XML'), '');
    await writeFile(join(laneDir, kept.id, 'config.XML.tmp-1-abc'), 'partial');
    await writeFile(join(laneDir, kept.id, 'upload.tmp-1-abc'), 'partial body');
    await mkdir(join(laneDir, `.purge-${entry().id}`));
    const warnings: string[] = [];
    const reopened = await FsJournalStore.open(tmp.dir, (w) => warnings.push(w.message));
    expect(await reopened.list(kept.lane)).toEqual([kept]);
    expect((await readdir(laneDir)).sort()).toEqual([kept.id]);
    expect(await readdir(join(laneDir, kept.id))).toEqual(['config.XML']);
    expect(warnings).toEqual([]);
    await reopened.close();
    await tmp.remove();
  });

  it('leaves a corrupt config.XML in place, warns, and does not list it', async () => {
    const tmp = await tempDir();
    const store = await FsJournalStore.open(tmp.dir);
    const e = entry();
    await store.create([e]);
    await store.close();
    await writeFile(join(tmp.dir, JOURNAL_DIR, e.lane, e.id, 'config.XML'), '<change><id>');
    const warnings: string[] = [];
    const reopened = await FsJournalStore.open(tmp.dir, (w) => warnings.push(w.message));
    expect(await reopened.list(e.lane)).toEqual([]);
    expect(warnings[0]).toMatch(/unreadable config.XML/);
    await reopened.close();
    await tmp.remove();
  });

  it('lets one process own a journal, and takes over the lock file a dead one left', async () => {
    const tmp = await tempDir();
    const store = await FsJournalStore.open(tmp.dir);
    await expect(FsJournalStore.open(tmp.dir)).rejects.toBeInstanceOf(JournalLockedError);
    await store.close();
    // What a killed relay leaves: a lock file naming it (here an older version's, pid only). Nobody holds the lock.
    await writeFile(join(tmp.dir, 'relay.lock'), `${process.ppid}\n`);
    const taken = await FsJournalStore.open(tmp.dir);
    expect(JSON.parse(await readFile(join(tmp.dir, 'relay.lock'), 'utf8'))).toMatchObject({ pid: process.pid });
    await taken.close();
    await tmp.remove();
  });
});

describe('FsJournalStore recovery of uploads', () => {
  it('marks a PENDING upload whose body is missing or short as FAILED instead of replaying it', async () => {
    const tmp = await tempDir();
    const store = await FsJournalStore.open(tmp.dir);
    const whole = entry({ action: 'upload', size: 5, status: 'AWAITING_BODY' });
    const short = entry({ action: 'upload', size: 5, status: 'AWAITING_BODY' });
    await store.create([whole, short]);
    const { Readable } = await import('node:stream');
    for (const e of [whole, short]) {
      await store.writeBody(e, Readable.from([Buffer.from('hello')]), 5);
      await store.publish([{ ...e, status: 'PENDING' }], e);
    }
    await store.close();
    await writeFile(join(tmp.dir, JOURNAL_DIR, short.lane, short.id, 'upload'), 'he');
    const warnings: string[] = [];
    const reopened = await FsJournalStore.open(tmp.dir, (w) => warnings.push(w.message));
    expect((await reopened.read(whole))?.status).toBe('PENDING');
    expect(await reopened.read(short)).toMatchObject({
      status: 'FAILED',
      lastError: "the journal's body is 2 bytes, expected 5",
    });
    expect(warnings).toEqual(['a PENDING upload had no complete body: marked FAILED']);
    await reopened.close();
    await tmp.remove();
  });
});

describe('FsJournalStore publish', () => {
  it('keeps an upload invisible on disk until it is published, then in every lane', async () => {
    const tmp = await tempDir();
    const store = await FsJournalStore.open(tmp.dir);
    const home = entry({ action: 'upload', size: 3, status: 'AWAITING_BODY' });
    const twin = { ...home, lane: '00000000000000aa', peer: 'server3' };
    await store.create([home, twin], { durable: false });
    expect((await store.read(home))?.status).toBe('AWAITING_BODY');
    await expect(readdir(store.entryDir(home))).rejects.toMatchObject({ code: 'ENOENT' }); // not even a folder
    const { Readable } = await import('node:stream');
    await store.writeBody(home, Readable.from([Buffer.from('abc')]), 3);
    await store.publish(
      [
        { ...home, status: 'PENDING' },
        { ...twin, status: 'PENDING' },
      ],
      home,
    );
    await store.checkpoint(); // the folders are written right after the answer; a checkpoint waits for them
    for (const e of [home, twin]) {
      expect((await readdir(store.entryDir(e))).sort()).toEqual(['config.XML', 'upload']);
      expect(await readFile(join(store.entryDir(e), 'upload'), 'utf8')).toBe('abc');
    }
    await store.close();
    // A restart forgets unpublished entries (the node starts over) and keeps published ones.
    const lone = entry({ action: 'upload', size: 1, status: 'AWAITING_BODY' });
    const again = await FsJournalStore.open(tmp.dir);
    await again.create([lone], { durable: false });
    await again.close();
    const third = await FsJournalStore.open(tmp.dir);
    expect(await third.read(lone)).toBeUndefined();
    expect((await third.read(twin))?.status).toBe('PENDING');
    await third.close();
    await tmp.remove();
  });

  it('makes the folder of an unpublished entry only once something of it goes to disk', async () => {
    const tmp = await tempDir();
    const store = await FsJournalStore.open(tmp.dir);
    const { Readable } = await import('node:stream');
    const large = entry({ action: 'upload', size: SMALL_BODY_BYTES + 1, status: 'AWAITING_BODY' });
    const refused = entry({ action: 'upload', size: 3, status: 'AWAITING_BODY', path: '/user_homes/refused' });
    const copy = entry({ path: '/user_homes/copy', status: 'PENDING' });
    await store.create([large, refused, copy], { durable: false });
    // A body too large for memory goes to its folder.
    const bytes = Buffer.alloc(SMALL_BODY_BYTES + 1, 1);
    await store.writeBody(large, Readable.from([bytes]), bytes.length);
    expect(await readdir(store.entryDir(large))).toEqual(['upload']);
    await store.purge(large); // dropped before its commit: the folder it got goes with it
    await expect(readdir(store.entryDir(large))).rejects.toMatchObject({ code: 'ENOENT' });
    // A body refused before it went anywhere: nothing on disk to remove or sync.
    await store.writeBody(refused, Readable.from([Buffer.from('abc')]), 3);
    await store.discardBody(refused);
    await expect(readdir(store.entryDir(refused))).rejects.toMatchObject({ code: 'ENOENT' });
    // A status written for an entry that never had a folder (a resync's copy parked by the peer).
    await store.update({ ...copy, status: 'CONFLICT', lastError: 'HTTP 412' });
    expect(await readdir(store.entryDir(copy))).toEqual(['config.XML']);
    await store.close();
    const again = await FsJournalStore.open(tmp.dir);
    expect((await again.read(copy))?.status).toBe('CONFLICT');
    await again.close();
    await tmp.remove();
  });

  it('writes the status of an unpublished entry updated twice at once (a HELD resync copy released twice)', async () => {
    const tmp = await tempDir();
    const store = await FsJournalStore.open(tmp.dir);
    for (let i = 0; i < 100; i++) {
      const copy = entry({ path: `/user_homes/copy${i}`, status: 'HELD' });
      await store.create([copy], { durable: false });
      const results = await Promise.allSettled([
        store.update({ ...copy, status: 'PENDING' }),
        store.update({ ...copy, status: 'PENDING', released: true }),
      ]);
      expect(
        results.filter((r) => r.status === 'rejected'),
        `round ${i}`,
      ).toEqual([]);
      expect(await readdir(store.entryDir(copy))).toEqual(['config.XML']);
    }
    await store.close();
    await tmp.remove();
  });

  it('finishes a publish a crash interrupted between renames (complete temporary config.XML promoted)', async () => {
    const tmp = await tempDir();
    const store = await FsJournalStore.open(tmp.dir);
    const e = entry({ action: 'makedir' });
    await store.create([e]);
    await store.close();
    const dir = join(tmp.dir, JOURNAL_DIR, e.lane, e.id);
    const newer = { ...e, status: 'CONFLICT' as const, attempts: 1, lastError: 'MOVE: 412' };
    await writeFile(join(dir, 'config.XML.tmp-9-complete'), encodeEntry(newer));
    await writeFile(join(dir, 'config.XML.tmp-9-torn'), encodeEntry(newer).slice(0, 40));
    const reopened = await FsJournalStore.open(tmp.dir);
    expect(await reopened.read(e)).toEqual(newer);
    expect(await readdir(dir)).toEqual(['config.XML']);
    await reopened.close();
    await tmp.remove();
  });
});
