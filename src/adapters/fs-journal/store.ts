import { link, mkdir, open, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { type EntryRef, isUploadLike, type JournalEntry } from '../../core/entry.js';
import { decodeEntry, encodeEntry } from '../../core/entry-xml.js';
import { EntryCodecError, NotFoundError } from '../../core/errors.js';
import type { BodyDigest, CreateOptions, JournalStore, ListOptions } from '../../core/journal.js';
import { isLaneId, type LaneId } from '../../core/lane.js';
import { LaneIndex } from '../../core/lane-index.js';
import { isStamp } from '../../core/stamp.js';
import { digestFile, writeBodyFile } from './body.js';
import { DirectorySync, fsyncPath } from './dir-sync.js';
import { acquireJournalLock } from './lock.js';

export const JOURNAL_DIR = 'multi_journal';
const ENTRY_FILE = 'config.XML';
const BODY_FILE = 'upload';

export interface FsJournalWarning {
  message: string;
  path: string;
}

/**
 * The journal on a local folder: `<root>/multi_journal/<lane>/<id>/{config.XML,upload}`.
 *
 * Crash safety: every file is written under a temporary name, fsynced, renamed into place, and the directory is
 * fsynced (grouped across concurrent writers by DirectorySync). An entry is visible only once its config.XML is
 * complete; folders without one, temporary files and half-purged entries are cleared by `open()`.
 *
 * One process owns a journal folder (relay.lock). It keeps every entry's metadata in memory, so listing and
 * status queries never touch the disk; bodies stay on disk.
 */
export class FsJournalStore implements JournalStore {
  private readonly journal: string;
  private readonly lanesIndex = new Map<LaneId, LaneIndex>();
  private readonly digests = new Map<string, BodyDigest>();
  private readonly dirSync = new DirectorySync();
  private readonly knownLaneDirs = new Set<LaneId>();
  /** Entries created with `durable: false`: in memory and a bare folder only, until published or updated. */
  private readonly volatile = new Set<string>();
  private releaseLock: (() => Promise<void>) | undefined;

  private constructor(readonly root: string) {
    this.journal = join(root, JOURNAL_DIR);
  }

  /** Opens (creating if needed) the journal under `root`, takes its lock and recovers from any crash. */
  static async open(root: string, onWarning: (w: FsJournalWarning) => void = () => {}): Promise<FsJournalStore> {
    const store = new FsJournalStore(root);
    await mkdir(store.journal, { recursive: true });
    store.releaseLock = await acquireJournalLock(join(root, 'relay.lock'));
    try {
      await store.recover(onWarning);
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  async create(entries: readonly JournalEntry[], options: CreateOptions = {}): Promise<void> {
    await Promise.all(entries.map((entry) => this.createOne(entry, options.durable ?? true)));
  }

  async read(ref: EntryRef): Promise<JournalEntry | undefined> {
    const entry = this.lanesIndex.get(ref.lane)?.get(ref.id);
    return entry && { ...entry };
  }

  async update(entry: JournalEntry): Promise<void> {
    const index = this.lanesIndex.get(entry.lane);
    if (!index?.get(entry.id)) throw new NotFoundError('CHANGE_NOT_FOUND', `no entry ${entry.lane}/${entry.id}`);
    const dir = this.entryDir(entry);
    const wasVolatile = this.volatile.delete(key(entry));
    await this.writeAtomically(join(dir, ENTRY_FILE), encodeEntry(entry));
    await Promise.all([
      this.dirSync.sync(dir),
      wasVolatile ? this.dirSync.sync(join(this.journal, entry.lane)) : undefined,
    ]);
    index.set({ ...entry });
  }

  async list(lane: LaneId, options: ListOptions = {}): Promise<JournalEntry[]> {
    const index = this.lanesIndex.get(lane);
    if (!index) return [];
    return index.slice(options.after, options.limit ?? Number.POSITIVE_INFINITY).map((e) => ({ ...e }));
  }

  async lanes(): Promise<LaneId[]> {
    return [...this.lanesIndex.entries()].filter(([, index]) => index.size > 0).map(([lane]) => lane);
  }

  async purge(ref: EntryRef): Promise<void> {
    const index = this.lanesIndex.get(ref.lane);
    if (!index?.get(ref.id)) return;
    const dir = this.entryDir(ref);
    const graveyard = join(this.journal, ref.lane, `.purge-${ref.id}`);
    // One rename makes the entry disappear atomically; the fsync makes that survive a crash, so an entry that
    // was applied and purged is never replayed again over a newer change to the same path.
    await rename(dir, graveyard);
    index.delete(ref.id);
    this.digests.delete(key(ref));
    this.volatile.delete(key(ref));
    await this.dirSync.sync(join(this.journal, ref.lane));
    // Off the critical path: the entry is already gone for good, and start-up clears any leftover.
    void rm(graveyard, { recursive: true, force: true }).catch(() => undefined);
  }

  async writeBody(ref: EntryRef, body: Readable, maxBytes: number): Promise<BodyDigest> {
    const digest = await writeBodyFile(join(this.entryDir(ref), BODY_FILE), body, maxBytes);
    this.digests.set(key(ref), digest);
    return digest;
  }

  async bodyDigest(ref: EntryRef): Promise<BodyDigest | undefined> {
    const cached = this.digests.get(key(ref));
    if (cached) return cached;
    const digest = await digestFile(join(this.entryDir(ref), BODY_FILE));
    if (digest) this.digests.set(key(ref), digest);
    return digest;
  }

  /**
   * Three steps, each a batch of fsyncs run in parallel (about three fsync latencies, whatever the number of
   * lanes; concurrent commits share the directory fsyncs through DirectorySync):
   *   1. the body ‖ each lane's link to it and its config.XML under a temporary name ‖ each lane folder;
   *   2. rename every temporary config.XML into place;
   *   3. each entry folder.
   * Every temporary config.XML is complete and durable before the first rename, so a crash between renames
   * leaves lanes that recovery finishes (it promotes a complete temporary config.XML): a change is published in
   * every lane or in none.
   */
  async publish(entries: readonly JournalEntry[], bodyFrom: EntryRef): Promise<void> {
    const source = join(this.entryDir(bodyFrom), BODY_FILE);
    const digest = this.digests.get(key(bodyFrom));
    const laneDirs = new Set(entries.map((e) => join(this.journal, e.lane)));
    const [prepared] = await Promise.all([
      Promise.all(
        entries.map(async (entry) => {
          const dir = this.entryDir(entry);
          if (key(entry) !== key(bodyFrom)) {
            // A hard link shares the bytes (no copy, no extra disk); each lane still purges its own name.
            await unlink(join(dir, BODY_FILE)).catch(ignoreMissing);
            await link(source, join(dir, BODY_FILE));
          }
          return this.prepare(join(dir, ENTRY_FILE), encodeEntry(entry));
        }),
      ),
      fsyncPath(source),
      ...[...laneDirs].map((dir) => this.dirSync.sync(dir)),
    ]);
    // The body is durable: only now may any entry read PENDING.
    await Promise.all(prepared.map((publish) => publish()));
    await Promise.all(entries.map((e) => this.dirSync.sync(this.entryDir(e))));
    for (const entry of entries) {
      this.volatile.delete(key(entry));
      this.indexOf(entry.lane).set({ ...entry });
      if (digest) this.digests.set(key(entry), digest);
    }
  }

  async discardBody(ref: EntryRef): Promise<void> {
    this.digests.delete(key(ref));
    await unlink(join(this.entryDir(ref), BODY_FILE)).catch(ignoreMissing);
    await this.dirSync.sync(this.entryDir(ref));
  }

  async readBody(ref: EntryRef): Promise<Readable> {
    const file = join(this.entryDir(ref), BODY_FILE);
    // Open first so a missing body fails here, not later inside the consumer's pipeline.
    const handle = await open(file, 'r').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT')
        throw new NotFoundError('BODY_MISSING', `the entry ${ref.lane}/${ref.id} has no body`);
      throw error;
    });
    return handle.createReadStream({ highWaterMark: 1 << 20 });
  }

  async newestId(): Promise<string | undefined> {
    let newest: string | undefined;
    for (const index of this.lanesIndex.values()) {
      const last = index.last();
      if (last && (!newest || last > newest)) newest = last;
    }
    return newest;
  }

  async close(): Promise<void> {
    const release = this.releaseLock;
    this.releaseLock = undefined;
    await release?.();
  }

  /** Path of an entry folder, for operators and tests. */
  entryDir(ref: EntryRef): string {
    return join(this.journal, ref.lane, ref.id);
  }

  private async createOne(entry: JournalEntry, durable: boolean): Promise<void> {
    const laneDir = join(this.journal, entry.lane);
    if (!this.knownLaneDirs.has(entry.lane)) {
      await mkdir(laneDir, { recursive: true });
      await this.dirSync.sync(this.journal);
      this.knownLaneDirs.add(entry.lane);
    }
    const dir = join(laneDir, entry.id);
    await mkdir(dir);
    if (durable) {
      await this.writeAtomically(join(dir, ENTRY_FILE), encodeEntry(entry));
      await Promise.all([this.dirSync.sync(dir), this.dirSync.sync(laneDir)]);
    } else {
      // Nothing to write until it is published: a folder without config.XML is invisible, and cleared at start.
      this.volatile.add(key(entry));
    }
    this.indexOf(entry.lane).set({ ...entry });
  }

  private indexOf(lane: LaneId): LaneIndex {
    let index = this.lanesIndex.get(lane);
    if (!index) {
      index = new LaneIndex();
      this.lanesIndex.set(lane, index);
    }
    return index;
  }

  private async writeAtomically(file: string, text: string): Promise<void> {
    const publish = await this.prepare(file, text);
    await publish();
  }

  /** Writes `text` under a temporary name and fsyncs it; the returned function renames it into place. */
  private async prepare(file: string, text: string): Promise<() => Promise<void>> {
    const temp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    const handle = await open(temp, 'wx');
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    return () => rename(temp, file);
  }

  /** Loads every entry and clears what a crash can leave behind. */
  private async recover(onWarning: (w: FsJournalWarning) => void): Promise<void> {
    for (const lane of await readdir(this.journal)) {
      const laneDir = join(this.journal, lane);
      if (!isLaneId(lane)) {
        if (lane !== '.DS_Store') onWarning({ message: 'ignoring a folder that is not a lane', path: laneDir });
        continue;
      }
      this.knownLaneDirs.add(lane);
      const index = new LaneIndex();
      this.lanesIndex.set(lane, index);
      for (const name of await readdir(laneDir)) {
        const dir = join(laneDir, name);
        if (name.startsWith('.purge-')) {
          await rm(dir, { recursive: true, force: true });
          continue;
        }
        if (!isStamp(name)) {
          onWarning({ message: 'ignoring a folder that is not an entry', path: dir });
          continue;
        }
        const entry = await this.recoverEntry(dir, onWarning);
        if (entry) index.set(entry);
      }
    }
  }

  private async recoverEntry(dir: string, onWarning: (w: FsJournalWarning) => void): Promise<JournalEntry | undefined> {
    await finishInterruptedRename(dir);
    const xml = await readFile(join(dir, ENTRY_FILE)).catch(ignoreMissing);
    if (!xml) {
      // Created up to mkdir but never acknowledged: nothing to keep.
      await rm(dir, { recursive: true, force: true });
      return undefined;
    }
    let entry: JournalEntry;
    try {
      entry = decodeEntry(xml);
    } catch (error) {
      if (!(error instanceof EntryCodecError)) throw error;
      onWarning({ message: `unreadable config.XML left in place: ${error.message}`, path: dir });
      return undefined;
    }
    if (entry.status === 'PENDING' && isUploadLike(entry.action)) {
      // Publishing makes the body durable before config.XML says PENDING; this guards against a disk that lied.
      const size = await stat(join(dir, BODY_FILE)).then((s) => s.size, ignoreMissing);
      if (size !== entry.size) {
        entry = {
          ...entry,
          status: 'FAILED',
          lastError: `the journal's body is ${size === undefined ? 'missing' : `${size} bytes, expected ${entry.size}`}`,
        };
        await this.writeAtomically(join(dir, ENTRY_FILE), encodeEntry(entry));
        onWarning({ message: 'a PENDING upload had no complete body: marked FAILED', path: dir });
      }
    }
    return entry;
  }
}

/** The newest complete temporary config.XML is the rename a crash interrupted: finish it; drop everything else. */
async function finishInterruptedRename(dir: string): Promise<void> {
  const temps = (await readdir(dir)).filter((name) => name.includes('.tmp-'));
  const complete: { name: string; mtimeMs: number }[] = [];
  for (const name of temps) {
    if (!name.startsWith(`${ENTRY_FILE}.tmp-`)) continue;
    try {
      decodeEntry(await readFile(join(dir, name)));
      complete.push({ name, mtimeMs: (await stat(join(dir, name))).mtimeMs });
    } catch {
      // torn write: never renamed, never acknowledged
    }
  }
  const newest = complete.sort((a, b) => b.mtimeMs - a.mtimeMs)[0];
  if (newest) await rename(join(dir, newest.name), join(dir, ENTRY_FILE));
  for (const name of temps) if (name !== newest?.name) await rm(join(dir, name), { force: true });
}

function key(ref: EntryRef): string {
  return `${ref.lane}/${ref.id}`;
}

function ignoreMissing(error: NodeJS.ErrnoException): undefined {
  if (error.code === 'ENOENT') return undefined;
  throw error;
}
