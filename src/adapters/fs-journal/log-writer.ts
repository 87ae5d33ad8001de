import { link, mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { EntryRef, JournalEntry } from '../../core/entry.js';
import { encodeEntry } from '../../core/entry-xml.js';
import { JournalStorageError } from '../../core/errors.js';
import type { LaneId } from '../../core/lane.js';
import { fsyncPath } from '../durable-files/fsync.js';
import { replaceFile } from '../durable-files/replace-file.js';
import { DirectorySync } from './dir-sync.js';
import { FolderJanitor } from './janitor.js';
import { BODY_FILE, ENTRY_FILE, entryKey, ignoreMissing, type JournalLayout } from './layout.js';
import { PRIVATE_DIR, PRIVATE_FILE } from './modes.js';
import { FileSystemSync } from './syncfs.js';
import type { AppendMode, LogSlice, WalRecord, WriteAheadLog } from './wal.js';

/** A checkpoint touching at least this many paths syncs the whole file system at once instead of file by file. */
const SYNCFS_PATHS = 64;

export type PutRecord = Extract<WalRecord, { kind: 'put' }>;

/** The log record of new entries (their config.XML), with the body of `bodyFrom` when it carries one. */
export function putRecord(entries: readonly JournalEntry[], bodyFrom?: EntryRef, size = 0): PutRecord {
  const record: PutRecord = {
    kind: 'put',
    entries: entries.map((e) => ({ lane: e.lane, id: e.id, xml: encodeEntry(e) })),
  };
  if (bodyFrom) record.body = { lane: bodyFrom.lane, id: bodyFrom.id, size };
  return record;
}

/**
 * Writes the journal through the write-ahead log: a record is appended (and fsynced, group commit) while the
 * journal files it stands for are written without fsync — on the I/O thread (FolderJanitor) or through the
 * thread pool. A checkpoint (every `intervalMs` while the log holds records, and at close) makes what the records
 * touched durable, then drops the log segment (see WriteAheadLog). Also keeps the folders that hold entries
 * durable: a lane's folder once, an entry's folder after a status update.
 */
export class JournalLogWriter {
  private readonly dirSync = new DirectorySync();
  private readonly janitor = new FolderJanitor([ENTRY_FILE, BODY_FILE]);
  private readonly knownLaneDirs = new Set<string>();
  private checkpointTimer: NodeJS.Timeout | undefined;
  private readonly fileSystem: FileSystemSync;
  /** Whether syncfs works here: unknown until first tried; false after it failed once. */
  private syncfs: boolean | undefined;
  private wal: WriteAheadLog | undefined;

  constructor(
    private readonly layout: JournalLayout,
    wal: WriteAheadLog,
  ) {
    this.wal = wal;
    this.fileSystem = new FileSystemSync(layout.journal);
  }

  /** Checkpoints every `intervalMs`; a failure is reported once (not every time) through `onFailure`. */
  startCheckpoints(intervalMs: number, onFailure: (message: string) => void): void {
    let reported = '';
    this.checkpointTimer = setInterval(
      () =>
        void this.checkpoint().then(
          () => {
            reported = '';
          },
          (error: unknown) => {
            const message = `checkpoint failed: ${error instanceof Error ? error.message : String(error)}`;
            if (message !== reported) onFailure(message);
            reported = message;
          },
        ),
      intervalMs,
    );
    this.checkpointTimer.unref();
  }

  /**
   * Appends a record to the log and runs the journal writes it stands for while the log is fsynced (`writes` is
   * told where the record's body lies in the log).
   */
  async append(
    record: WalRecord,
    body: Buffer | undefined,
    writes: (bodyInLog: LogSlice | undefined) => Promise<void>,
    mode: AppendMode = 'durable',
  ): Promise<void> {
    if (!this.wal) throw new JournalStorageError('the journal is closed');
    await this.wal.append(record, body, writes, mode);
  }

  /** Writes the files of a `put` record (no fsync): config.XML of each entry, and their links to the body. */
  async writePut(record: PutRecord, bodySource?: string): Promise<void> {
    await Promise.all(
      record.entries.map(async (e) => {
        const dir = this.layout.entryDir(e);
        await mkdir(dir, { recursive: true, mode: PRIVATE_DIR });
        if (bodySource && record.body && (e.lane !== record.body.lane || e.id !== record.body.id)) {
          // A hard link shares the bytes (no copy, no extra disk); each lane still purges its own name.
          await unlink(join(dir, BODY_FILE)).catch(ignoreMissing);
          await link(bodySource, join(dir, BODY_FILE));
        }
        await replaceFile(join(dir, ENTRY_FILE), e.xml, { sync: 'none', mode: PRIVATE_FILE });
      }),
    );
  }

  /**
   * Writes the folders of a small upload's `put` record on the I/O thread: the body in the first lane, hard links
   * to it in the others, then each config.XML. `holdMs`: how long they may wait (a purge meanwhile cancels them,
   * see FolderJanitor.write) — only for a folder no other lane links to. Given `bodyInLog`, the thread copies the
   * body from the write-ahead log, which holds it until these writes are done: the main thread neither copies
   * the bytes nor sends them (a fresh copy per body also page-faulted its way into memory).
   */
  async writeFolders(record: PutRecord, body: Buffer, holdMs = 0, bodyInLog?: LogSlice): Promise<void> {
    const homeBody = this.layout.bodyFile(record.entries[0]!);
    await Promise.all(
      record.entries.map((e, i) =>
        this.janitor.write(
          i === 0
            ? {
                dir: this.layout.entryDir(e),
                files: [
                  bodyInLog && bodyInLog.length === body.length
                    ? { name: BODY_FILE, from: bodyInLog }
                    : { name: BODY_FILE, data: body },
                  { name: ENTRY_FILE, data: e.xml },
                ],
              }
            : {
                dir: this.layout.entryDir(e),
                links: [{ name: BODY_FILE, target: homeBody }],
                files: [{ name: ENTRY_FILE, data: e.xml }],
              },
          { holdMs },
        ),
      ),
    );
  }

  /** Removes an entry's folder on the I/O thread (config.XML first); `awaited`: see FolderJanitor.remove. */
  removeFolder(dir: string, awaited = false): Promise<void> {
    return this.janitor.remove(dir, { awaited });
  }

  /** Folder writes and removals the I/O thread has not done yet (held-back writes aside). */
  get foldersBehind(): number {
    return this.janitor.behind;
  }

  /** Sends a held-back folder write to the I/O thread now. */
  releaseFolder(dir: string): void {
    this.janitor.release(dir);
  }

  /** fsync of a folder, shared with every caller asking meanwhile (DirectorySync). */
  /** Why the journal acknowledges no more changes (its log or a folder fsync failed), or undefined. */
  get failure(): string | undefined {
    return this.wal?.failure ?? this.dirSync.failure;
  }

  syncFolder(dir: string): Promise<void> {
    return this.dirSync.sync(dir);
  }

  /** Creates a lane's folder the first time it is needed (durably: its name is in the journal folder). */
  async ensureLaneDir(lane: LaneId): Promise<void> {
    if (this.knownLaneDirs.has(lane)) return;
    await mkdir(this.layout.laneDir(lane), { recursive: true, mode: PRIVATE_DIR });
    await this.dirSync.sync(this.layout.journal);
    this.knownLaneDirs.add(lane);
  }

  /** A lane whose folder exists already (found at start-up). */
  laneDirExists(lane: LaneId): void {
    this.knownLaneDirs.add(lane);
  }

  /** Forces a checkpoint: what the log holds is made durable in the journal itself and the log is emptied. */
  async checkpoint(): Promise<void> {
    if (this.wal?.dirty) await this.wal.checkpoint((records) => this.makeDurable(records));
  }

  /**
   * Makes durable every file and folder the records touched: one syncfs when they are many (see FileSystemSync),
   * else one batch of parallel fsyncs. An entry both created and purged within the records needs nothing of its
   * own made durable, only its lane's folder (where its folder's name was, if it was ever written): with a peer
   * that keeps up, that is nearly every entry.
   */
  async makeDurable(records: readonly WalRecord[]): Promise<void> {
    const files = new Set<string>();
    const dirs = new Set<string>();
    // Newest first: only a put followed by a purge of the same entry is skipped.
    const purged = new Set<string>();
    for (const record of [...records].reverse()) {
      if (record.kind === 'purge') for (const ref of record.refs) purged.add(entryKey(ref));
      const refs = record.kind === 'put' ? record.entries : record.refs;
      for (const ref of refs) {
        dirs.add(this.layout.laneDir(ref.lane));
        if (record.kind === 'put' && !purged.has(entryKey(ref))) {
          dirs.add(this.layout.entryDir(ref));
          files.add(this.layout.entryFile(ref));
          if (record.body) files.add(this.layout.bodyFile(ref));
        }
      }
    }
    dirs.add(this.layout.journal);
    // Purges touch only their lanes' folders; a burst of new entries touches thousands of paths.
    if (files.size + dirs.size >= SYNCFS_PATHS && this.syncfs !== false) {
      const done = await this.fileSystem.sync();
      this.syncfs = done;
      if (done) return;
    }
    await forEachLimited([...files, ...dirs], 32, (path) => fsyncPath(path).catch(ignoreMissing));
  }

  /** Writes what is held back, checkpoints a last time and stops the I/O thread. */
  async close(): Promise<void> {
    clearInterval(this.checkpointTimer);
    this.janitor.release(); // the last checkpoint waits for them
    const wal = this.wal;
    this.wal = undefined;
    try {
      await wal?.close((records) => this.makeDurable(records));
    } finally {
      this.fileSystem.close();
      await this.janitor.close();
    }
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
