import { mkdir, open, readFile, rm, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import type { ByteBudget } from '../../core/byte-budget.js';
import type { ByteStream } from '../../core/bytes.js';
import type { EntryRef, JournalEntry } from '../../core/entry.js';
import { encodeEntry } from '../../core/entry-xml.js';
import { JournalStorageError, NotFoundError } from '../../core/errors.js';
import {
  type BodyDigest,
  type CreateOptions,
  type JournalStore,
  type ListOptions,
  SMALL_BODY_BYTES,
  type StoredBody,
} from '../../core/journal.js';
import type { LaneId } from '../../core/lane.js';
import type { LaneSummary } from '../../core/lane-index.js';
import { fsyncPath } from '../durable-files/fsync.js';
import { replaceFile } from '../durable-files/replace-file.js';
import { asBuffer } from '../node-bytes.js';
import { digestFile, writeBodyFile } from './body.js';
import { entryKey, ignoreMissing, JournalLayout, WAL_DIR } from './layout.js';
import { acquireJournalLock } from './lock.js';
import { JournalLogWriter, putRecord } from './log-writer.js';
import { MemoryIndex } from './memory-index.js';
import { makePrivate, PRIVATE_DIR, PRIVATE_FILE } from './modes.js';
import { type FsJournalWarning, type LoadProgress, loadJournal, redo } from './recovery.js';
import { readSmallFileSync } from './small-file.js';
import { StagedBodies } from './staged-bodies.js';
import { UnwrittenBodies } from './unwritten-bodies.js';
import { WriteAheadLog } from './wal.js';

export { JOURNAL_DIR, WAL_DIR } from './layout.js';
export type { FsJournalWarning } from './recovery.js';

/** Bodies up to this size travel inside the log record; larger ones are fsynced in place. */
const WAL_BODY_BYTES = 1024 * 1024;
const CHECKPOINT_INTERVAL_MS = 1000;
/**
 * How long the folders of a small upload to one peer wait before they are written: purged within that time
 * (replayed to a peer that is up), they are never written at all.
 */
const WRITE_HOLD_MS = 500;
/** See FsJournalOptions.maxFoldersBehind. */
const MAX_FOLDERS_BEHIND = 1024;

export interface FsJournalOptions {
  /** How often the write-ahead log is checkpointed while it holds records (default 1 s). */
  checkpointIntervalMs?: number;
  /** Memory for small bodies staged until their commit, shared with the API's one-request uploads (64 MiB). */
  bodyMemory?: ByteBudget;
  /**
   * How many folder writes and removals the I/O thread may have left to do before a purge waits for its own
   * folder to go (default 1024): below it, a purge is done once its record is in the write-ahead log.
   */
  maxFoldersBehind?: number;
  /** Told how many entries start-up has read so far, now and then (a journal of millions takes a while). */
  onLoadProgress?: LoadProgress;
  /** The journal's lock, taken beforehand with `FsJournalStore.lock` (released by `close`, or if opening fails). */
  lock?: JournalLock;
}

/** The journal folder's lock, held by this process (FsJournalStore.lock). */
export interface JournalLock {
  release(): Promise<void>;
}

/**
 * The journal on a local folder: `<root>/multi_journal/<lane>/<id>/{config.XML,upload}` (JournalLayout).
 *
 * Crash safety: a change is acknowledged once its write-ahead-log record (entries, and the body of a small upload)
 * is fsynced (group commit, see WriteAheadLog); the entry folders are written after it (JournalLogWriter) — for a
 * single-peer upload 500 ms later, and not at all if the entry is purged by then — and made durable by the next
 * checkpoint, which then drops the log segment. `open()` re-applies what the log still holds, then clears folders
 * without a config.XML, temporary files and half-purged entries (recovery.ts). Status updates are written under a
 * temporary name, fsynced and renamed into place (folder fsyncs grouped).
 *
 * One process owns a journal folder (relay.lock). It keeps every entry's metadata in memory (MemoryIndex), so
 * listing and status queries never touch the disk; bodies stay on disk, except small ones not committed yet
 * (StagedBodies) or acknowledged and not written yet (UnwrittenBodies).
 */
export class FsJournalStore implements JournalStore {
  private readonly layout: JournalLayout;
  private readonly index = new MemoryIndex();
  private readonly staged = new StagedBodies();
  private readonly unwritten = new UnwrittenBodies();
  /** Set by open(); once closed, what writes the log refuses (JournalStorageError). */
  private writer!: JournalLogWriter;
  private releaseLock: (() => Promise<void>) | undefined;
  private maxFoldersBehind = MAX_FOLDERS_BEHIND;
  /** Volatile entries whose folder was made (see makeFolder), by entryKey: only those have one to remove. */
  private readonly volatileFolders = new Set<string>();
  /** The update under way per entry (see update). */
  private readonly updating = new Map<string, Promise<void>>();

  private constructor(readonly root: string) {
    this.layout = new JournalLayout(root);
  }

  /**
   * Takes the lock of the journal under `root` (creating the folder if needed) ahead of `open`: the embedded relay
   * takes it, then listens, then loads, so that a second relay on the journal names the holder (JOURNAL_LOCKED).
   */
  static async lock(root: string): Promise<JournalLock> {
    await makePrivate(root, new JournalLayout(root).journal);
    const release = await acquireJournalLock(join(root, 'relay.lock'));
    return { release };
  }

  /**
   * Opens (creating if needed) the journal under `root`, takes its lock (unless given it) and recovers from any
   * crash.
   */
  static async open(
    root: string,
    onWarning: (w: FsJournalWarning) => void = () => {},
    options: FsJournalOptions = {},
  ): Promise<FsJournalStore> {
    const store = new FsJournalStore(root);
    if (options.bodyMemory) store.staged.useBudget(options.bodyMemory);
    store.maxFoldersBehind = options.maxFoldersBehind ?? MAX_FOLDERS_BEHIND;
    if (options.lock) {
      store.releaseLock = () => options.lock!.release();
    } else {
      await makePrivate(root, store.layout.journal);
      store.releaseLock = await acquireJournalLock(join(root, 'relay.lock'));
    }
    try {
      const { wal, leftover, leftoverFiles } = await WriteAheadLog.open(join(root, WAL_DIR));
      const writer = new JournalLogWriter(store.layout, wal);
      store.writer = writer;
      await redo(store.layout, leftover, (records) => writer.makeDurable(records));
      await Promise.all(leftoverFiles.map((file) => rm(file, { force: true })));
      // Made durable before anything is acknowledged: a segment that came back after a power cut would end the
      // log at its torn record (see WriteAheadLog.open), before the records this run acknowledged.
      if (leftoverFiles.length > 0) await fsyncPath(join(root, WAL_DIR));
      await loadJournal(
        store.layout,
        (lane, index) => {
          writer.laneDirExists(lane);
          store.index.load(lane, index);
        },
        onWarning,
        options.onLoadProgress,
      );
      writer.startCheckpoints(options.checkpointIntervalMs ?? CHECKPOINT_INTERVAL_MS, (message) =>
        onWarning({ message, path: join(root, WAL_DIR) }),
      );
    } catch (error) {
      await store.close();
      throw error;
    }
    return store;
  }

  /** Why the journal takes no more changes until a restart (see JournalStore.failure), or undefined. */
  failure(): string | undefined {
    return this.writer?.failure;
  }

  async create(entries: readonly JournalEntry[], options: CreateOptions = {}): Promise<void> {
    await Promise.all(entries.map((entry) => this.createOne(entry, options.durable ?? true)));
  }

  async read(ref: EntryRef): Promise<JournalEntry | undefined> {
    const entry = this.index.get(ref);
    return entry && { ...entry };
  }

  /**
   * Updates are taken one at a time per entry, and a purge waits for the one under way: it would otherwise put
   * back into the index (and, for an entry not written yet, onto the disk) an entry purged while it wrote —
   * an operator's skip of a change in flight, undone, and the change replayed again.
   */
  async update(entry: JournalEntry): Promise<void> {
    const key = entryKey(entry);
    const run = (this.updating.get(key) ?? Promise.resolve()).then(() => this.updateNow(entry));
    const settled = run.then(
      () => {},
      () => {},
    );
    this.updating.set(key, settled);
    try {
      await run;
    } finally {
      if (this.updating.get(key) === settled) this.updating.delete(key);
    }
  }

  private async updateNow(entry: JournalEntry): Promise<void> {
    if (!this.index.has(entry)) throw new NotFoundError('CHANGE_NOT_FOUND', `no entry ${entry.lane}/${entry.id}`);
    const writer = this.writer;
    const dir = this.layout.entryDir(entry);
    writer.releaseFolder(dir);
    await this.unwritten.get(entry)?.written; // the janitor's config.XML must not land after this one
    // The folder first: an update or a body arriving meanwhile takes the entry as settled, its folder made.
    const wasVolatile = this.index.isVolatile(entry);
    if (wasVolatile) await this.makeFolder(entry);
    this.settle(entry);
    await replaceFile(this.layout.entryFile(entry), encodeEntry(entry), { sync: 'file', mode: PRIVATE_FILE });
    await Promise.all([
      writer.syncFolder(dir),
      wasVolatile ? writer.syncFolder(this.layout.laneDir(entry.lane)) : undefined,
    ]);
    this.index.set(entry);
  }

  async list(lane: LaneId, options: ListOptions = {}): Promise<JournalEntry[]> {
    return this.index.list(lane, options);
  }

  async lanes(): Promise<LaneId[]> {
    return this.index.lanes();
  }

  summary(lane: LaneId): LaneSummary | undefined {
    const summary = this.index.summary(lane);
    // A copy of the oldest entry: nothing outside the index holds one of its objects.
    return summary?.oldest ? { ...summary, oldest: { ...summary.oldest } } : summary;
  }

  scan(lane: LaneId): Iterable<JournalEntry> {
    return this.index.scan(lane);
  }

  async purge(ref: EntryRef): Promise<void> {
    await this.updating.get(entryKey(ref)); // see update
    if (!this.index.has(ref)) return;
    const writer = this.writer;
    const dir = this.layout.entryDir(ref);
    // The janitor removes config.XML first, which makes the entry invisible at once (a folder without one is
    // cleared at start-up); the log record makes that survive a crash, so an entry that was applied and purged is
    // never replayed again over a newer change to the same path.
    const hadFolder = this.volatileFolders.has(entryKey(ref));
    const wasVolatile = this.settle(ref);
    this.index.delete(ref);
    this.staged.drop(ref);
    this.unwritten.release(ref);
    // Waiting neither for the fsync nor, while the I/O thread keeps up, for the folder to go: a purge lost in a
    // crash replays an applied entry once more, which is harmless (replay is idempotent) because the log keeps
    // purges in order: a later entry's purge never survives without this one. The entry is gone from the index
    // already, and a removal that fails keeps the log's segment for the next start, like any failed journal
    // write. (Waiting for the thread's unlinks kept each replayed entry in flight longer, and every dispatch of
    // its lane stepped over it.) A thread that falls behind is waited for: the replay goes no faster than the
    // disk removes what it replayed.
    if (wasVolatile) {
      if (hadFolder) await writer.removeFolder(dir, true); // else nothing of it was ever on disk
    } else {
      const mode = writer.foldersBehind < this.maxFoldersBehind ? 'logged' : 'lazy';
      // Only a lazy purge waits for its folder to go: then the thread is sent it at once.
      const remove = () => writer.removeFolder(dir, mode === 'lazy');
      await writer.append({ kind: 'purge', refs: [{ lane: ref.lane, id: ref.id }] }, undefined, remove, mode);
    }
  }

  async writeBody(ref: EntryRef, body: ByteStream, maxBytes: number): Promise<BodyDigest> {
    // The digest of an earlier PUT goes with its body: a PUT that fails now must not leave it for the commit to
    // check against whatever body is left (the earlier one on disk, or none at all).
    this.staged.drop(ref);
    this.index.deleteDigest(ref);
    const file = this.layout.bodyFile(ref);
    // Small bodies of uploads that live in memory until their commit (a restart forgets them anyway) wait for it
    // in memory too: the commit then journals entries and body in one step.
    const received =
      this.index.isVolatile(ref) && maxBytes <= SMALL_BODY_BYTES
        ? await this.staged.receive(ref, body, maxBytes)
        : undefined;
    if (received && 'digest' in received) {
      this.index.setDigest(ref, received.digest);
      return received.digest;
    }
    // The budget went to others meanwhile (keep it on disk instead), or it was too large to begin with.
    const source = received ? Readable.from([received.unstaged]) : body;
    if (this.index.isVolatile(ref)) await this.makeFolder(ref);
    const digest = await writeBodyFile(file, source, maxBytes);
    this.index.setDigest(ref, digest);
    return digest;
  }

  async bodyDigest(ref: EntryRef): Promise<BodyDigest | undefined> {
    const cached = this.index.digest(ref);
    if (cached) return cached;
    const digest = await digestFile(this.layout.bodyFile(ref));
    if (digest) this.index.setDigest(ref, digest);
    return digest;
  }

  /**
   * One log record makes the change durable: the entries' config.XML and, for bodies up to WAL_BODY_BYTES, the
   * body itself (larger bodies are fsynced in place first). The journal files are written while the record is
   * fsynced (group commit with every other change arriving meanwhile) and made durable by the next checkpoint.
   * A crash before that is repaired at start-up from the log, in every lane or in none.
   */
  async publish(entries: readonly JournalEntry[], bodyFrom: EntryRef): Promise<void> {
    const staged = this.staged.get(bodyFrom);
    if (staged) {
      await this.createWithBody(entries, staged.bytes, staged.digest);
      this.staged.drop(bodyFrom);
      for (const entry of entries) this.settle(entry);
      return;
    }
    const writer = this.writer;
    const source = this.layout.bodyFile(bodyFrom);
    const digest = this.index.digest(bodyFrom) ?? (await this.bodyDigest(bodyFrom));
    const size = digest?.size ?? 0;
    const small = size <= WAL_BODY_BYTES;
    const body = small ? await readFile(source) : undefined;
    // A body too large for the log is only in its file: the file's data and its name in the entry folder must be
    // durable before the commit is acknowledged (after a power cut a PENDING entry without its body turns FAILED).
    if (!small) await Promise.all([fsyncPath(source), writer.syncFolder(dirname(source))]);
    const record = putRecord(entries, bodyFrom, size);
    await writer.append(record, body, () => writer.writePut(record, source));
    for (const entry of entries) {
      this.settle(entry);
      this.index.set(entry);
      if (digest) this.index.setDigest(entry, digest);
    }
  }

  /**
   * Small uploads in one step: one log record holds the entries and the body, and while it is fsynced (group
   * commit) the I/O thread writes the folders (JournalLogWriter.writeFolders). It resolves once the record is
   * durable; the folders may follow a little later (their bodies are served from memory meanwhile, see
   * UnwrittenBodies; when that is full, it also waits for the folders).
   */
  async createWithBody(entries: readonly JournalEntry[], bytes: Uint8Array, digest: BodyDigest): Promise<void> {
    const body = asBuffer(bytes);
    const writer = this.writer;
    await Promise.all(entries.map((e) => writer.ensureLaneDir(e.lane)));
    const record = putRecord(entries, entries[0], body.length);
    // Only a folder no other lane links to can be held back (see FolderJanitor.write).
    const holdMs = entries.length === 1 ? WRITE_HOLD_MS : 0;
    if (!this.unwritten.hasRoomFor(body.length)) {
      await writer.append(record, body, (inLog) => writer.writeFolders(record, body, 0, inLog)); // the janitor is behind
    } else {
      // Acknowledged once the log record is fsynced; the folders follow, and until then the body is served from
      // memory. The log keeps the record until the folders are written (a checkpoint waits for them).
      const held = this.unwritten.hold(entries, body);
      try {
        await writer.append(
          record,
          body,
          (inLog) => {
            const written = writer.writeFolders(record, body, holdMs, inLog);
            // On success the files take over. On failure the body stays in memory (counted against the limit)
            // so the entry still replays; the log keeps the record for the next start (see WriteAheadLog).
            held.written = written.then(
              () => this.unwritten.forget(entries, held),
              () => undefined,
            );
            return written;
          },
          'background',
        );
      } catch (error) {
        await held.written; // not acknowledged: nothing may stay behind in memory
        this.unwritten.forget(entries, held);
        throw error;
      }
    }
    for (const entry of entries) {
      this.index.set(entry);
      this.index.setDigest(entry, digest);
    }
  }

  /** Forces a checkpoint: what the log holds is made durable in the journal itself and the log is emptied. */
  async checkpoint(): Promise<void> {
    await this.writer.checkpoint();
  }

  async discardBody(ref: EntryRef): Promise<void> {
    this.index.deleteDigest(ref);
    this.staged.drop(ref);
    await unlink(this.layout.bodyFile(ref)).catch(ignoreMissing);
    // A volatile entry's folder is made only once something of it goes to disk: none, nothing to sync.
    await this.writer.syncFolder(this.layout.entryDir(ref)).catch(ignoreMissing);
  }

  async readBody(ref: EntryRef): Promise<StoredBody> {
    const unwritten = this.unwritten.get(ref);
    if (unwritten) return unwritten.body;
    const file = this.layout.bodyFile(ref);
    const missing = (error: NodeJS.ErrnoException): never => {
      if (error.code === 'ENOENT')
        throw new NotFoundError('BODY_MISSING', `the entry ${ref.lane}/${ref.id} has no body`);
      throw error;
    };
    const size = this.index.get(ref)?.size;
    if (size !== undefined && size <= SMALL_BODY_BYTES) {
      let bytes: Buffer | undefined;
      try {
        bytes = readSmallFileSync(file, size);
      } catch (error) {
        missing(error as NodeJS.ErrnoException);
      }
      if (!bytes)
        throw new JournalStorageError(`the body of ${ref.lane}/${ref.id} is not the ${size} bytes its entry says`);
      return bytes;
    }
    // Open first so a missing body fails here, not later inside the consumer's pipeline.
    const handle = await open(file, 'r').catch(missing);
    return handle.createReadStream({ highWaterMark: 1 << 20 });
  }

  async newestId(): Promise<string | undefined> {
    return this.index.newestId();
  }

  async close(): Promise<void> {
    try {
      await (this.writer as JournalLogWriter | undefined)?.close();
    } finally {
      const release = this.releaseLock;
      this.releaseLock = undefined;
      await release?.();
    }
  }

  /** Path of an entry folder, for operators and tests. */
  entryDir(ref: EntryRef): string {
    return this.layout.entryDir(ref);
  }

  private async createOne(entry: JournalEntry, durable: boolean): Promise<void> {
    const writer = this.writer;
    await writer.ensureLaneDir(entry.lane);
    if (durable) {
      const record = putRecord([entry]);
      await writer.append(record, undefined, () => writer.writePut(record));
    } else {
      // Nothing to write until it is published, nor a folder to make: most never need one (a small body waits in
      // memory for its commit, which journals it with the entries; a resync's copy is replayed from its source),
      // and making it cost a thread-pool round trip per change. makeFolder makes it once something must go there.
      this.index.markVolatile(entry);
    }
    this.index.set(entry);
  }

  /**
   * The folder of a volatile entry, made when its body goes to disk or its config.XML is first written (a
   * folder without config.XML is invisible, and cleared at start).
   */
  private async makeFolder(ref: EntryRef): Promise<void> {
    this.volatileFolders.add(entryKey(ref)); // before it exists: a purge meanwhile removes it
    await mkdir(this.layout.entryDir(ref), { mode: PRIVATE_DIR }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  }

  /** The entry is no longer volatile (published, updated, purged): true if it was. */
  private settle(ref: EntryRef): boolean {
    this.volatileFolders.delete(entryKey(ref));
    return this.index.settle(ref);
  }
}
