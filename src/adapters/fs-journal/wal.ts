import { existsSync, fstatSync, writevSync } from 'node:fs';
import { chmod, type FileHandle, mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { fsyncPath } from '../durable-files/fsync.js';
import { GroupCommit } from '../durable-files/group-commit.js';
import { PRIVATE_DIR, PRIVATE_FILE } from './modes.js';

/** What the journal promised: entries written (with the body of small uploads), or entries purged. */
export type WalRecord =
  | {
      kind: 'put';
      entries: { lane: string; id: string; xml: string }[];
      body?: { lane: string; id: string; size: number };
    }
  | { kind: 'purge'; refs: { lane: string; id: string }[] };

export interface LoggedRecord {
  record: WalRecord;
  /** The body bytes carried by a `put` of a small upload. */
  body?: Buffer;
}

export type AppendMode = 'durable' | 'lazy' | 'background' | 'logged';

/** Where a record's body lies in the log: the segment file and the byte range, valid until the segment is dropped. */
export interface LogSlice {
  file: string;
  offset: number;
  length: number;
}

interface Segment {
  seq: number;
  file: string;
  handle: import('node:fs/promises').FileHandle;
  size: number;
  records: WalRecord[];
  /** Appends whose journal files are still being written (a checkpoint must wait for them). */
  pending: Set<Promise<void>>;
  /** Log writes of this segment still running (records over SYNC_WRITE_BYTES). */
  writing: Set<Promise<void>>;
  /** The last fsync of the previous segment: this one's fsyncs wait for it. */
  prior?: Promise<void>;
  /** The first journal write of this segment that failed: the segment is then kept for the next start-up. */
  failed?: unknown;
  /** The segment's fsyncs: callers that arrive during one share the next (see startSync). */
  commit: GroupCommit;
}

/** Records up to this size are written without a thread-pool round trip (the page cache absorbs them). */
const SYNC_WRITE_BYTES = 64 * 1024;
const HEADER_BYTES = 12; // u32 header length, u32 body length, u32 crc32 of both

/**
 * Write-ahead log with group commit. Every append that arrives while an fsync is running joins the next one, so
 * a burst of N changes costs one or two fsyncs instead of a few per change. The journal files themselves are
 * written without fsync; a checkpoint (every second while there are records, and at close) fsyncs what the
 * records touched, then drops the segments. At start-up the records still in the log are re-applied to the
 * journal, which makes it exactly what was acknowledged.
 */
export class WriteAheadLog {
  private current!: Segment;
  private closed = false;
  private checkpointing: Promise<void> | null = null;
  /** Set once a journal write failed: from then on no segment is dropped (see checkpoint). */
  private stuck: Error | undefined;
  /** Set once the log itself failed: from then on nothing is appended (see breakDown). */
  private broken: Error | undefined;

  private constructor(private readonly dir: string) {}

  /** Opens the log in `dir` and returns the records a previous run left in it, oldest first. */
  static async open(dir: string): Promise<{ wal: WriteAheadLog; leftover: LoggedRecord[]; leftoverFiles: string[] }> {
    await mkdir(dir, { recursive: true, mode: PRIVATE_DIR });
    await chmod(dir, PRIVATE_DIR);
    const names = (await readdir(dir)).filter((n) => /^\d{12}\.wal$/.test(n)).sort();
    const leftover: LoggedRecord[] = [];
    for (const name of names) {
      const { records, complete } = readSegment(await readFile(join(dir, name)));
      leftover.push(...records);
      // A torn record (a crash while a large record was still being written) ends the log, later segments too:
      // nothing after it was acknowledged (every fsync waits for the writes before it, across segments too), and
      // a purge after it must not be applied while one before the gap is not (an older change would come back
      // after a newer one of the same path was replayed and purged).
      if (!complete) break;
    }
    const wal = new WriteAheadLog(dir);
    const last = names.length > 0 ? Number(names[names.length - 1]!.slice(0, 12)) : 0;
    wal.current = await wal.newSegment(last + 1);
    return { wal, leftover, leftoverFiles: names.map((n) => join(dir, n)) };
  }

  /**
   * Appends a record. `whileDurable` runs the journal writes the record stands for, in parallel with the fsync;
   * the segment is not dropped by a checkpoint before they finish, nor at all if one of them failed (the next
   * start-up re-applies it). When it resolves depends on `mode`:
   * - `durable` (default): the record is fsynced and the writes are done;
   * - `lazy`: the writes are done, the record is not fsynced yet: the next group commit or checkpoint makes it
   *   durable, and, the log being read back only up to its first torn record, never after a record appended
   *   later;
   * - `background`: the record is fsynced; the writes may still be running (the caller serves what they write
   *   from memory meanwhile);
   * - `logged`: the record is in the log (written, not fsynced) and the writes may still be running: durable
   *   like `lazy`; a write that fails keeps the segment like any other (the next start re-applies the record).
   */
  async append(
    record: WalRecord,
    body: Buffer | undefined,
    whileDurable: (body: LogSlice | undefined) => Promise<void>,
    mode: AppendMode = 'durable',
  ): Promise<void> {
    if (this.closed) throw new Error('the write-ahead log is closed');
    if (this.broken) throw this.broken;
    const segment = this.current;
    const parts = encodeRecordParts(record, body);
    const length = parts.reduce((n, part) => n + part.length, 0);
    const position = segment.size;
    segment.size += length;
    segment.records.push(record);
    try {
      // A page-cache write of a small record costs less than a thread-pool round trip: synchronous up to
      // SYNC_WRITE_BYTES. A larger one is awaited by every fsync of the segment that starts meanwhile (see
      // startSync), so no record is acknowledged while an earlier one may still be a hole in the file.
      if (length <= SYNC_WRITE_BYTES) writevAll(segment.handle.fd, parts, position);
      else {
        const write = writevAllAsync(segment.handle, parts, position);
        segment.writing.add(write);
        try {
          await write;
        } finally {
          segment.writing.delete(write);
        }
      }
    } catch (error) {
      throw this.breakDown(error);
    }
    // The body is the record's last part; the segment stays until these writes are done (see checkpoint), so
    // they may read it back from the log instead of being handed the bytes.
    const bodyPart = parts.length === 3 ? parts[2]! : undefined;
    const writes = whileDurable(
      bodyPart && { file: segment.file, offset: position + length - bodyPart.length, length: bodyPart.length },
    );
    const done: Promise<void> = writes.then(
      () => {
        segment.pending.delete(done);
      },
      (error: unknown) => {
        segment.failed ??= error;
        segment.pending.delete(done);
      },
    );
    segment.pending.add(done);
    if (mode === 'logged') return;
    if (mode === 'background') await this.sync(segment);
    else await Promise.all([mode === 'lazy' ? undefined : this.sync(segment), writes]);
  }

  /** Why the log takes no more records (fail-stop, see breakDown), or undefined while it does. */
  get failure(): string | undefined {
    return this.broken?.message;
  }

  /** True when records wait for a checkpoint. */
  get dirty(): boolean {
    return this.current.records.length > 0;
  }

  /**
   * Starts a new segment, waits for the writes of the old one, lets `flush` make what its records touched durable
   * (fsync), then deletes it.
   */
  checkpoint(flush: (records: WalRecord[]) => Promise<void>): Promise<void> {
    if (this.stuck) return Promise.reject(this.stuck);
    this.checkpointing ??= (async () => {
      try {
        const old = this.current;
        if (old.records.length === 0) return;
        try {
          this.current = await this.newSegment(old.seq + 1);
        } catch (error) {
          // The log cannot go on (its folder is gone, the disk refuses a file): nothing more is acknowledged.
          throw this.breakDown(error);
        }
        // Appends already written to the old segment may still wait for their fsync; the new segment's fsyncs
        // wait for it too: a record of the new one must never be durable while an older one is not (a lazy
        // purge lost while a later purge survives would replay an older change over a newer one).
        const final = this.sync(old);
        this.current.prior = final.catch(() => undefined);
        await final;
        while (old.pending.size > 0) await Promise.all([...old.pending]);
        if (old.failed !== undefined) {
          // Its records are the only complete copy of what the failed writes stood for: keep the segment, and
          // every later one (their purges must be re-applied after its puts at the next start, in order).
          await old.handle.close();
          this.stuck = new Error(
            `a journal write failed (${String(old.failed)}); the write-ahead log keeps everything from then on ` +
              'and the next start re-applies it',
          );
          throw this.stuck;
        }
        try {
          await flush(old.records);
        } catch (error) {
          await old.handle.close();
          this.stuck = new Error(
            `a checkpoint could not make the journal durable (${String(error)}); the write-ahead log keeps ` +
              'everything from then on and the next start re-applies it',
          );
          throw this.stuck;
        }
        await old.handle.close();
        await rm(old.file, { force: true });
        await fsyncPath(this.dir);
      } finally {
        this.checkpointing = null;
      }
    })();
    return this.checkpointing;
  }

  async close(flush: (records: WalRecord[]) => Promise<void>): Promise<void> {
    if (this.closed) return;
    try {
      await this.checkpoint(flush);
    } finally {
      this.closed = true;
      await this.current.handle.close();
      if (this.current.records.length === 0 && !this.stuck) await rm(this.current.file, { force: true });
    }
  }

  private async newSegment(seq: number): Promise<Segment> {
    const file = join(this.dir, `${String(seq).padStart(12, '0')}.wal`);
    const handle = await open(file, 'w', PRIVATE_FILE);
    await fsyncPath(this.dir);
    const segment: Segment = {
      seq,
      file,
      handle,
      size: 0,
      records: [],
      pending: new Set(),
      writing: new Set(),
      commit: new GroupCommit(() => this.startSync(segment)),
    };
    return segment;
  }

  /** Group commit: callers that arrive during an fsync of the segment share the next one. */
  private sync(segment: Segment): Promise<void> {
    return segment.commit.request();
  }

  /**
   * One fsync of the segment, after the previous segment's last one and the large writes still running. Nothing it
   * covers counts as durable once the log failed (a write before it, or the fsync before it that it queued behind):
   * the file may hold a hole or lost pages before the records it would acknowledge.
   */
  private startSync(segment: Segment): Promise<void> {
    const intact = () => {
      if (this.broken) throw this.broken;
    };
    return Promise.all([segment.prior, ...segment.writing])
      .then(intact)
      .then(() => segment.handle.sync())
      .then(intact)
      .then(() => {
        // The file fsynced is no longer in any folder (the journal folder was removed or moved under the relay):
        // its records survive nothing, and no restart would find them.
        // Only the segment records go to now: an older one may be closed by its checkpoint already (fd -1).
        if (segment !== this.current || segment.handle.fd === -1) return;
        let links: number;
        try {
          links = fstatSync(segment.handle.fd).nlink;
        } catch {
          return; // cannot tell: not a failure of the log
        }
        // Unlinked, and its folder gone too (a lone unlinked file with its folder in place is not taken for this).
        if (links === 0 && !existsSync(this.dir)) {
          throw new Error(`${segment.file} is gone: the journal folder was removed or moved away`);
        }
      })
      .catch((error: unknown) => {
        throw this.breakDown(error);
      });
  }

  /**
   * Fail-stop: once a write or an fsync of the log failed, what the file holds is unknown (Linux may drop the
   * pages of a failed fsync); no append is acknowledged any more, until a restart re-reads the log.
   */
  private breakDown(error: unknown): Error {
    this.broken ??= new Error(
      `the write-ahead log failed (${error instanceof Error ? error.message : String(error)}); ` +
        'no change is accepted until the relay restarts',
    );
    return this.broken;
  }
}

export function encodeRecord(record: WalRecord, body: Buffer | undefined): Buffer {
  return Buffer.concat(encodeRecordParts(record, body));
}

/** A record as the parts written one after the other: lengths and checksum, the JSON header, the body as is. */
function encodeRecordParts(record: WalRecord, body: Buffer | undefined): Buffer[] {
  const json = Buffer.from(JSON.stringify(record));
  const head = Buffer.allocUnsafe(HEADER_BYTES);
  head.writeUInt32LE(json.length, 0);
  const carried = body && body.length > 0 ? body : undefined;
  head.writeUInt32LE(carried?.length ?? 0, 4);
  // An empty body adds nothing to the checksum, and must not be handed to crc32: Node's crc32 answers 0, whatever
  // the starting value, for an empty view of a zero-length ArrayBuffer (what `new Uint8Array(0)` is) — a record
  // whose checksum then never matches ends the log there, losing every record after it.
  head.writeUInt32LE(carried ? crc32(carried, crc32(json)) : crc32(json), 8);
  return carried ? [head, json, carried] : [head, json];
}

/**
 * writev until every byte is written: a regular file takes it all at once, but the call may stop short — on a
 * nearly full disk it writes what fits and reports no error (the next call then fails with ENOSPC).
 */
function writevAll(fd: number, parts: Buffer[], position: number): void {
  let rest = parts;
  let at = position;
  while (rest.length > 0) {
    const written = writevSync(fd, rest, at);
    at += written;
    rest = unwritten(rest, written);
  }
}

/** writevAll through the thread pool (a large record). */
async function writevAllAsync(handle: FileHandle, parts: Buffer[], position: number): Promise<void> {
  let rest = parts;
  let at = position;
  while (rest.length > 0) {
    const { bytesWritten } = await handle.writev(rest, at);
    at += bytesWritten;
    rest = unwritten(rest, bytesWritten);
  }
}

/** What is left of `parts` once `written` bytes of them are written; a write of nothing is a failure. */
function unwritten(parts: Buffer[], written: number): Buffer[] {
  if (written <= 0) throw new Error('a write to the log wrote nothing');
  let rest = parts;
  let left = written;
  while (rest.length > 0 && left >= rest[0]!.length) {
    left -= rest[0]!.length;
    rest = rest.slice(1);
  }
  return rest.length === 0 || left === 0 ? rest : [rest[0]!.subarray(left), ...rest.slice(1)];
}

/** Every complete record of a segment; a torn tail (a crash mid-append, never acknowledged) ends it. */
export function decodeSegment(bytes: Buffer): LoggedRecord[] {
  return readSegment(bytes).records;
}

/** decodeSegment, and whether the segment ended where its last record did (false: a torn record ended it). */
function readSegment(bytes: Buffer): { records: LoggedRecord[]; complete: boolean } {
  const records: LoggedRecord[] = [];
  let at = 0;
  while (at + HEADER_BYTES <= bytes.length) {
    const headerLength = bytes.readUInt32LE(at);
    const bodyLength = bytes.readUInt32LE(at + 4);
    const end = at + HEADER_BYTES + headerLength + bodyLength;
    if (headerLength === 0 || end > bytes.length) break;
    if (crc32(bytes.subarray(at + HEADER_BYTES, end)) !== bytes.readUInt32LE(at + 8)) break;
    const record = JSON.parse(
      bytes.subarray(at + HEADER_BYTES, at + HEADER_BYTES + headerLength).toString(),
    ) as WalRecord;
    const body = bodyLength > 0 ? Buffer.from(bytes.subarray(end - bodyLength, end)) : undefined;
    records.push(body ? { record, body } : { record });
    at = end;
  }
  return { records, complete: at === bytes.length };
}
