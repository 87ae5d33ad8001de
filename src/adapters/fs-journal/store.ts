import { createHash } from 'node:crypto';
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { link, mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { BODY_MEMORY_BYTES, ByteBudget } from '../../core/byte-budget.js';
import type { ByteStream } from '../../core/bytes.js';
import { type EntryRef, isUploadLike, type JournalEntry } from '../../core/entry.js';
import { decodeEntry, encodeEntry } from '../../core/entry-xml.js';
import { EntryCodecError, JournalStorageError, NotFoundError } from '../../core/errors.js';
import {
  type BodyDigest,
  type CreateOptions,
  type JournalStore,
  type ListOptions,
  SMALL_BODY_BYTES,
  type StoredBody,
} from '../../core/journal.js';
import { isLaneId, type LaneId } from '../../core/lane.js';
import { LaneIndex } from '../../core/lane-index.js';
import { receiveAtMost } from '../../core/receive.js';
import { isStamp } from '../../core/stamp.js';
import { asBuffer } from '../node-bytes.js';
import { digestFile, writeBodyFile } from './body.js';
import { DirectorySync, fsyncPath } from './dir-sync.js';
import { FolderJanitor } from './janitor.js';
import { acquireJournalLock } from './lock.js';
import { makePrivate, PRIVATE_DIR, PRIVATE_FILE } from './modes.js';
import { syncFileSystem } from './syncfs.js';
import { type AppendMode, type LoggedRecord, type WalRecord, WriteAheadLog } from './wal.js';

export const JOURNAL_DIR = 'multi_journal';
/** The write-ahead log, beside multi_journal/ (never inside it: the journal layout is a contract). */
export const WAL_DIR = 'wal';
/** Bodies up to this size travel inside the log record; larger ones are fsynced in place. */
const WAL_BODY_BYTES = 1024 * 1024;
const CHECKPOINT_INTERVAL_MS = 1000;
/** Bodies of acknowledged uploads whose folders are still being written, at most (see `unwritten`). */
const UNWRITTEN_BYTES = 64 * 1024 * 1024;
/**
 * How long the folders of a small upload to one peer wait before they are written: purged within that time
 * (replayed to a peer that is up), they are never written at all.
 */
const WRITE_HOLD_MS = 500;
/** A checkpoint touching at least this many paths syncs the whole file system at once instead of file by file. */
const SYNCFS_PATHS = 64;
/** Reading a body for replay need not update its access time (Linux; 0 elsewhere). */
const O_NOATIME = (constants as { O_NOATIME?: number }).O_NOATIME ?? 0;
const ENTRY_FILE = 'config.XML';
const BODY_FILE = 'upload';

export interface FsJournalOptions {
  /** How often the write-ahead log is checkpointed while it holds records (default 1 s). */
  checkpointIntervalMs?: number;
  /** Memory for small bodies staged until their commit, shared with the API's one-request uploads (64 MiB). */
  bodyMemory?: ByteBudget;
}

export interface FsJournalWarning {
  message: string;
  path: string;
}

/**
 * The journal on a local folder: `<root>/multi_journal/<lane>/<id>/{config.XML,upload}`.
 *
 * Crash safety: a change is acknowledged once its write-ahead-log record (entries, and the body of a small upload)
 * is fsynced (group commit, see WriteAheadLog); the entry folders are written after it by the I/O thread
 * (FolderJanitor) — for a single-peer upload 500 ms later, and not at all if the entry is purged by then — and made
 * durable by the next checkpoint, which then drops the log segment. `open()` re-applies what the log still holds,
 * then clears folders without a config.XML, temporary files and half-purged entries. Status updates are written
 * under a temporary name, fsynced and renamed into place (directory fsyncs grouped by DirectorySync).
 *
 * One process owns a journal folder (relay.lock). It keeps every entry's metadata in memory, so listing and
 * status queries never touch the disk; bodies stay on disk.
 */
export class FsJournalStore implements JournalStore {
  private readonly journal: string;
  private readonly lanesIndex = new Map<LaneId, LaneIndex>();
  private readonly digests = new Map<string, BodyDigest>();
  private readonly dirSync = new DirectorySync();
  private readonly janitor = new FolderJanitor([ENTRY_FILE, BODY_FILE]);
  private readonly knownLaneDirs = new Set<LaneId>();
  /** Entries created with `durable: false`: in memory and a bare folder only, until published or updated. */
  private readonly volatile = new Set<string>();
  private releaseLock: (() => Promise<void>) | undefined;
  private wal: WriteAheadLog | undefined;
  private checkpointTimer: NodeJS.Timeout | undefined;
  /**
   * Small uploads acknowledged before the janitor wrote their folders (the log holds them): their bodies, served
   * from memory until the files are there. At most UNWRITTEN_BYTES in all; beyond that, acknowledgements wait
   * for the files.
   */
  private readonly unwritten = new Map<
    string,
    { body: Buffer; written: Promise<void>; lanes: number; released: boolean }
  >();
  private unwrittenBytes = 0;
  /** Small bodies received for uploads not committed yet (see writeBody), within bodyMemory. */
  private readonly staged = new Map<string, { bytes: Buffer; digest: BodyDigest }>();
  private bodyMemory = new ByteBudget(BODY_MEMORY_BYTES);
  /** Whether syncfs works here: unknown until first tried; false after it failed once. */
  private syncfs: boolean | undefined;

  private constructor(readonly root: string) {
    this.journal = join(root, JOURNAL_DIR);
  }

  /** Opens (creating if needed) the journal under `root`, takes its lock and recovers from any crash. */
  static async open(
    root: string,
    onWarning: (w: FsJournalWarning) => void = () => {},
    options: FsJournalOptions = {},
  ): Promise<FsJournalStore> {
    const store = new FsJournalStore(root);
    if (options.bodyMemory) store.bodyMemory = options.bodyMemory;
    await makePrivate(root, store.journal);
    store.releaseLock = await acquireJournalLock(join(root, 'relay.lock'));
    try {
      const { wal, leftover, leftoverFiles } = await WriteAheadLog.open(join(root, WAL_DIR));
      store.wal = wal;
      await store.redo(leftover);
      await Promise.all(leftoverFiles.map((file) => rm(file, { force: true })));
      await store.recover(onWarning);
      let reported = '';
      store.checkpointTimer = setInterval(
        () =>
          void store.checkpoint().then(
            () => {
              reported = '';
            },
            (error: unknown) => {
              const message = `checkpoint failed: ${error instanceof Error ? error.message : String(error)}`;
              if (message !== reported) onWarning({ message, path: join(root, WAL_DIR) }); // once, not every second
              reported = message;
            },
          ),
        options.checkpointIntervalMs ?? CHECKPOINT_INTERVAL_MS,
      );
      store.checkpointTimer.unref();
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
    this.janitor.release(dir);
    await this.unwritten.get(key(entry))?.written; // the janitor's config.XML must not land after this one
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
    // The janitor removes config.XML first, which makes the entry invisible at once (a folder without one is
    // cleared at start-up); the log record makes that survive a crash, so an entry that was applied and purged is
    // never replayed again over a newer change to the same path.
    const remove = () => this.janitor.remove(dir);
    const wasVolatile = this.volatile.delete(key(ref));
    index.delete(ref.id);
    this.digests.delete(key(ref));
    this.unstage(ref);
    this.releaseUnwritten(ref);
    // Not waiting for the fsync: a purge lost in a crash replays an applied entry once more, which is harmless
    // (replay is idempotent) because the log keeps purges in order: a later entry's purge never survives without
    // this one.
    if (wasVolatile) await remove();
    else await this.log({ kind: 'purge', refs: [{ lane: ref.lane, id: ref.id }] }, undefined, remove, 'lazy');
  }

  async writeBody(ref: EntryRef, body: ByteStream, maxBytes: number): Promise<BodyDigest> {
    this.unstage(ref);
    if (this.volatile.has(key(ref)) && maxBytes <= SMALL_BODY_BYTES && this.bodyMemory.tryReserve(maxBytes)) {
      // Small bodies of uploads that live in memory until their commit (a restart forgets them anyway) wait for
      // it in memory too: the commit then journals entries and body in one step. Reserved while it arrives.
      let bytes: Buffer;
      try {
        bytes = asBuffer(await receiveAtMost(body, maxBytes));
      } finally {
        this.bodyMemory.release(maxBytes);
      }
      const digest = { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
      this.unstage(ref); // a concurrent PUT of the same body: the last one wins, as on disk
      this.staged.set(key(ref), { bytes, digest });
      if (!this.bodyMemory.tryReserve(bytes.length)) {
        this.staged.delete(key(ref)); // the budget went to others meanwhile: keep it on disk instead
        const digestOnDisk = await writeBodyFile(join(this.entryDir(ref), BODY_FILE), Readable.from([bytes]), maxBytes);
        this.digests.set(key(ref), digestOnDisk);
        return digestOnDisk;
      }
      this.digests.set(key(ref), digest);
      return digest;
    }
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
   * One log record makes the change durable: the entries' config.XML and, for bodies up to WAL_BODY_BYTES, the
   * body itself (larger bodies are fsynced in place first). The journal files are written while the record is
   * fsynced (group commit with every other change arriving meanwhile) and made durable by the next checkpoint.
   * A crash before that is repaired at start-up from the log, in every lane or in none.
   */
  async publish(entries: readonly JournalEntry[], bodyFrom: EntryRef): Promise<void> {
    const staged = this.staged.get(key(bodyFrom));
    if (staged) {
      await this.createWithBody(entries, staged.bytes, staged.digest);
      this.unstage(bodyFrom);
      for (const entry of entries) this.volatile.delete(key(entry));
      return;
    }
    const source = join(this.entryDir(bodyFrom), BODY_FILE);
    const digest = this.digests.get(key(bodyFrom)) ?? (await this.bodyDigest(bodyFrom));
    const size = digest?.size ?? 0;
    const small = size <= WAL_BODY_BYTES;
    const body = small ? await readFile(source) : undefined;
    if (!small) await fsyncPath(source);
    const record: WalRecord = {
      kind: 'put',
      entries: entries.map((e) => ({ lane: e.lane, id: e.id, xml: encodeEntry(e) })),
      body: { lane: bodyFrom.lane, id: bodyFrom.id, size },
    };
    await this.log(record, body, () => this.writePut(record, source));
    for (const entry of entries) {
      this.volatile.delete(key(entry));
      this.indexOf(entry.lane).set({ ...entry });
      if (digest) this.digests.set(key(entry), digest);
    }
  }

  /**
   * Small uploads in one step: one log record holds the entries and the body, and while it is fsynced (group
   * commit) the janitor thread writes the folders: the body in the first lane, hard links to it in the others,
   * then each config.XML. It resolves once the record is durable; the folders may follow a little later (their
   * bodies are served from memory meanwhile, up to UNWRITTEN_BYTES; beyond, it also waits for the folders).
   */
  async createWithBody(entries: readonly JournalEntry[], bytes: Uint8Array, digest: BodyDigest): Promise<void> {
    const body = asBuffer(bytes);
    const home = entries[0]!;
    await Promise.all(entries.map((e) => this.ensureLaneDir(e.lane)));
    const record: WalRecord = {
      kind: 'put',
      entries: entries.map((e) => ({ lane: e.lane, id: e.id, xml: encodeEntry(e) })),
      body: { lane: home.lane, id: home.id, size: body.length },
    };
    const homeBody = join(this.entryDir(home), BODY_FILE);
    // Only a folder no other lane links to can be held back (see FolderJanitor.write).
    const holdMs = entries.length === 1 ? WRITE_HOLD_MS : 0;
    const writeFolders = (hold = 0) =>
      Promise.all(
        record.entries.map((e, i) =>
          this.janitor.write(
            i === 0
              ? {
                  dir: this.entryDir(e),
                  files: [
                    { name: BODY_FILE, data: body },
                    { name: ENTRY_FILE, data: e.xml },
                  ],
                }
              : {
                  dir: this.entryDir(e),
                  links: [{ name: BODY_FILE, target: homeBody }],
                  files: [{ name: ENTRY_FILE, data: e.xml }],
                },
            { holdMs: hold },
          ),
        ),
      ).then(() => undefined);
    if (this.unwrittenBytes + body.length > UNWRITTEN_BYTES) {
      await this.log(record, body, writeFolders); // the janitor is behind: wait for the files
    } else {
      // Acknowledged once the log record is fsynced; the folders follow, and until then the body is served from
      // memory. The log keeps the record until the folders are written (a checkpoint waits for them).
      const pending = { body, written: Promise.resolve(), lanes: entries.length, released: false };
      this.unwrittenBytes += body.length;
      for (const entry of entries) this.unwritten.set(key(entry), pending);
      const forget = () => {
        for (const entry of entries) if (this.unwritten.get(key(entry)) === pending) this.releaseUnwritten(entry);
      };
      try {
        await this.log(
          record,
          body,
          () => {
            const written = writeFolders(holdMs);
            // On success the files take over. On failure the body stays in memory (counted against the limit)
            // so the entry still replays; the log keeps the record for the next start (see WriteAheadLog).
            pending.written = written.then(forget, () => undefined);
            return written;
          },
          'background',
        );
      } catch (error) {
        await pending.written; // not acknowledged: nothing may stay behind in memory
        forget();
        throw error;
      }
    }
    for (const entry of entries) {
      this.indexOf(entry.lane).set({ ...entry });
      this.digests.set(key(entry), { size: digest.size, sha256: digest.sha256 });
    }
  }

  /** Forces a checkpoint: what the log holds is made durable in the journal itself and the log is emptied. */
  async checkpoint(): Promise<void> {
    if (this.wal?.dirty) await this.wal.checkpoint((records) => this.flush(records));
  }

  async discardBody(ref: EntryRef): Promise<void> {
    this.digests.delete(key(ref));
    this.unstage(ref);
    await unlink(join(this.entryDir(ref), BODY_FILE)).catch(ignoreMissing);
    await this.dirSync.sync(this.entryDir(ref));
  }

  async readBody(ref: EntryRef): Promise<StoredBody> {
    const unwritten = this.unwritten.get(key(ref));
    if (unwritten) return unwritten.body;
    const file = join(this.entryDir(ref), BODY_FILE);
    const missing = (error: NodeJS.ErrnoException): never => {
      if (error.code === 'ENOENT')
        throw new NotFoundError('BODY_MISSING', `the entry ${ref.lane}/${ref.id} has no body`);
      throw error;
    };
    const size = this.lanesIndex.get(ref.lane)?.get(ref.id)?.size;
    if (size !== undefined && size <= SMALL_BODY_BYTES) return readSmallFile(file, size, ref).catch(missing);
    // Open first so a missing body fails here, not later inside the consumer's pipeline.
    const handle = await open(file, 'r').catch(missing);
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
    clearInterval(this.checkpointTimer);
    this.janitor.release(); // the last checkpoint waits for them
    const wal = this.wal;
    this.wal = undefined;
    try {
      await wal?.close((records) => this.flush(records));
    } finally {
      await this.janitor.close();
      const release = this.releaseLock;
      this.releaseLock = undefined;
      await release?.();
    }
  }

  /** Path of an entry folder, for operators and tests. */
  entryDir(ref: EntryRef): string {
    return join(this.journal, ref.lane, ref.id);
  }

  /** Creates a lane's folder the first time it is needed (durably: its name is in the journal folder). */
  private async ensureLaneDir(lane: LaneId): Promise<void> {
    if (this.knownLaneDirs.has(lane)) return;
    await mkdir(join(this.journal, lane), { recursive: true, mode: PRIVATE_DIR });
    await this.dirSync.sync(this.journal);
    this.knownLaneDirs.add(lane);
  }

  private async createOne(entry: JournalEntry, durable: boolean): Promise<void> {
    await this.ensureLaneDir(entry.lane);
    const dir = this.entryDir(entry);
    if (durable) {
      const record: WalRecord = { kind: 'put', entries: [{ lane: entry.lane, id: entry.id, xml: encodeEntry(entry) }] };
      await this.log(record, undefined, () => this.writePut(record));
    } else {
      await mkdir(dir, { mode: PRIVATE_DIR });
      // Nothing to write until it is published: a folder without config.XML is invisible, and cleared at start.
      this.volatile.add(key(entry));
    }
    this.indexOf(entry.lane).set({ ...entry });
  }

  /** Appends a record to the log and runs the journal writes it stands for while the log is fsynced. */
  private async log(
    record: WalRecord,
    body: Buffer | undefined,
    writes: () => Promise<void>,
    mode: AppendMode = 'durable',
  ): Promise<void> {
    if (!this.wal) throw new JournalStorageError('the journal is closed');
    await this.wal.append(record, body, writes, mode);
  }

  /** Writes the files of a `put` record (no fsync): config.XML of each entry, and their links to the body. */
  private async writePut(record: Extract<WalRecord, { kind: 'put' }>, bodySource?: string): Promise<void> {
    await Promise.all(
      record.entries.map(async (e) => {
        const dir = this.entryDir(e);
        await mkdir(dir, { recursive: true, mode: PRIVATE_DIR });
        if (bodySource && record.body && (e.lane !== record.body.lane || e.id !== record.body.id)) {
          // A hard link shares the bytes (no copy, no extra disk); each lane still purges its own name.
          await unlink(join(dir, BODY_FILE)).catch(ignoreMissing);
          await link(bodySource, join(dir, BODY_FILE));
        }
        await this.writeUnsynced(join(dir, ENTRY_FILE), e.xml);
      }),
    );
  }

  /**
   * Checkpoint: makes durable every file and folder the records touched: one syncfs when they are many (see
   * syncFileSystem), else one batch of parallel fsyncs. An entry both created and purged within the records needs
   * nothing of its own made durable, only its lane's folder (where its folder's name was, if it was ever
   * written): with a peer that keeps up, that is nearly every entry.
   */
  private async flush(records: readonly WalRecord[]): Promise<void> {
    const files = new Set<string>();
    const dirs = new Set<string>();
    // Newest first: only a put followed by a purge of the same entry is skipped.
    const purged = new Set<string>();
    for (const record of [...records].reverse()) {
      if (record.kind === 'purge') for (const ref of record.refs) purged.add(key(ref));
      const refs = record.kind === 'put' ? record.entries : record.refs;
      for (const ref of refs) {
        dirs.add(join(this.journal, ref.lane));
        if (record.kind === 'put' && !purged.has(key(ref))) {
          dirs.add(this.entryDir(ref));
          files.add(join(this.entryDir(ref), ENTRY_FILE));
          if (record.body) files.add(join(this.entryDir(ref), BODY_FILE));
        }
      }
    }
    dirs.add(this.journal);
    // Purges touch only their lanes' folders; a burst of new entries touches thousands of paths.
    if (files.size + dirs.size >= SYNCFS_PATHS && this.syncfs !== false) {
      const done = await syncFileSystem(this.journal);
      this.syncfs = done;
      if (done) return;
    }
    await forEachLimited([...files, ...dirs], 32, (path) => fsyncPath(path).catch(ignoreMissing));
  }

  /**
   * Start-up: re-applies what the log still holds, in order, to the journal. A `put` restores a config.XML that
   * is missing or unreadable (one written later by an update wins) and a body that is missing or short; a
   * `purge` removes the entry again. Then everything is flushed, so the log can go.
   */
  private async redo(leftover: readonly LoggedRecord[]): Promise<void> {
    if (leftover.length === 0) return;
    for (const { record, body } of leftover) {
      if (record.kind === 'purge') {
        for (const ref of record.refs) await rm(this.entryDir(ref), { recursive: true, force: true });
        continue;
      }
      const home = record.body ? join(this.entryDir(record.body), BODY_FILE) : undefined;
      // An empty body travels as no bytes at all.
      const bytes = body ?? (record.body?.size === 0 ? Buffer.alloc(0) : undefined);
      if (home && bytes) {
        await mkdir(this.entryDir(record.body!), { recursive: true, mode: PRIVATE_DIR });
        const size = await stat(home).then((s) => s.size, ignoreMissing);
        if (size !== record.body!.size) await this.writeUnsynced(home, bytes);
      }
      for (const e of record.entries) {
        const dir = this.entryDir(e);
        await mkdir(dir, { recursive: true, mode: PRIVATE_DIR });
        await finishInterruptedRename(dir);
        const current = await readFile(join(dir, ENTRY_FILE)).catch(ignoreMissing);
        if (!current || !decodes(current)) await this.writeUnsynced(join(dir, ENTRY_FILE), e.xml);
        if (home && join(dir, BODY_FILE) !== home) {
          const size = await stat(join(dir, BODY_FILE)).then((s) => s.size, ignoreMissing);
          if (size !== record.body!.size) {
            await unlink(join(dir, BODY_FILE)).catch(ignoreMissing);
            await link(home, join(dir, BODY_FILE)).catch(ignoreMissing);
          }
        }
      }
    }
    await this.flush(leftover.map((l) => l.record));
  }

  /** Temporary name + rename, without fsync: for files a log record already makes durable. */
  private async writeUnsynced(file: string, content: string | Buffer): Promise<void> {
    const temp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    await writeFile(temp, content, { flag: 'wx', mode: PRIVATE_FILE });
    await rename(temp, file);
  }

  /** Stops serving `ref`'s body from memory; the memory goes once no lane of that upload needs it. */
  private releaseUnwritten(ref: EntryRef): void {
    const pending = this.unwritten.get(key(ref));
    if (!pending) return;
    this.unwritten.delete(key(ref));
    pending.lanes -= 1;
    if (pending.lanes === 0 && !pending.released) {
      pending.released = true;
      this.unwrittenBytes -= pending.body.length;
    }
  }

  private unstage(ref: EntryRef): void {
    const staged = this.staged.get(key(ref));
    if (!staged) return;
    this.staged.delete(key(ref));
    this.bodyMemory.release(staged.bytes.length);
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
    const handle = await open(temp, 'wx', PRIVATE_FILE);
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
    if (!xml || xml.length === 0) {
      // Empty: a write cut short that no log record stands for (the log re-writes those before this runs).
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

/**
 * Small-file fast path. A thread-pool round trip costs the event loop about 30 µs per call on the machines we
 * measured, several times the system call itself for a small file in the page cache, so a replay reads its body
 * synchronously. Everything that waits on the disk (fsync, unlink, large bodies) stays asynchronous.
 */
function readSmallFileSync(file: string, size: number): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | O_NOATIME);
  } catch (error) {
    // Linux allows O_NOATIME only to the file's owner: a journal restored by another user is still readable.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM' || O_NOATIME === 0) throw error;
    fd = openSync(file, constants.O_RDONLY);
  }
  try {
    // One byte more than expected tells a body that grew from one that is exactly right.
    const bytes = Buffer.allocUnsafe(size + 1);
    let got = 0;
    for (let n = -1; n !== 0 && got <= size; got += n) n = readSync(fd, bytes, got, size + 1 - got, got);
    return got === size ? bytes.subarray(0, size) : undefined;
  } finally {
    closeSync(fd);
  }
}

async function readSmallFile(file: string, size: number, ref: EntryRef): Promise<Buffer> {
  const bytes = readSmallFileSync(file, size);
  if (!bytes)
    throw new JournalStorageError(`the body of ${ref.lane}/${ref.id} is not the ${size} bytes its entry says`);
  return bytes;
}

function decodes(xml: Buffer): boolean {
  try {
    decodeEntry(xml);
    return true;
  } catch {
    return false;
  }
}

async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await task(items[next++]!);
    }),
  );
}

function key(ref: EntryRef): string {
  return `${ref.lane}/${ref.id}`;
}

function ignoreMissing(error: NodeJS.ErrnoException): undefined {
  if (error.code === 'ENOENT') return undefined;
  throw error;
}
