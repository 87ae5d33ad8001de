import { readdirSync, readFileSync, statSync } from 'node:fs';
import { link, mkdir, readdir, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isUploadLike, type JournalEntry } from '../../core/entry.js';
import { decodeEntry, encodeEntry } from '../../core/entry-xml.js';
import { EntryCodecError } from '../../core/errors.js';
import { isLaneId, type LaneId } from '../../core/lane.js';
import { LaneIndex } from '../../core/lane-index.js';
import { isStamp } from '../../core/stamp.js';
import { replaceFile } from '../durable-files/replace-file.js';
import { BODY_FILE, ENTRY_FILE, ignoreMissing, type JournalLayout } from './layout.js';
import { PRIVATE_DIR, PRIVATE_FILE } from './modes.js';
import type { LoggedRecord, WalRecord } from './wal.js';

export interface FsJournalWarning {
  message: string;
  path: string;
}

/**
 * Start-up, first step: re-applies what the write-ahead log still holds, in order, to the journal. A `put`
 * restores a config.XML that is missing or unreadable (one written later by an update wins) and a body that is
 * missing or short; a `purge` removes the entry again. Then `makeDurable` flushes everything, so the log can go.
 */
export async function redo(
  layout: JournalLayout,
  leftover: readonly LoggedRecord[],
  makeDurable: (records: WalRecord[]) => Promise<void>,
): Promise<void> {
  if (leftover.length === 0) return;
  for (const { record, body } of leftover) {
    if (record.kind === 'purge') {
      for (const ref of record.refs) await rm(layout.entryDir(ref), { recursive: true, force: true });
      continue;
    }
    const home = record.body ? layout.bodyFile(record.body) : undefined;
    // An empty body travels as no bytes at all.
    const bytes = body ?? (record.body?.size === 0 ? Buffer.alloc(0) : undefined);
    if (home && bytes) {
      await mkdir(layout.entryDir(record.body!), { recursive: true, mode: PRIVATE_DIR });
      const size = await stat(home).then((s) => s.size, ignoreMissing);
      if (size !== record.body!.size) await replaceFile(home, bytes, { sync: 'none', mode: PRIVATE_FILE });
    }
    for (const e of record.entries) {
      const dir = layout.entryDir(e);
      await mkdir(dir, { recursive: true, mode: PRIVATE_DIR });
      await finishInterruptedRename(dir);
      const current = await readFile(join(dir, ENTRY_FILE)).catch(ignoreMissing);
      if (!current || !decodes(current)) {
        await replaceFile(join(dir, ENTRY_FILE), e.xml, { sync: 'none', mode: PRIVATE_FILE });
      }
      if (home && join(dir, BODY_FILE) !== home) {
        const size = await stat(join(dir, BODY_FILE)).then((s) => s.size, ignoreMissing);
        if (size !== record.body!.size) {
          await unlink(join(dir, BODY_FILE)).catch(ignoreMissing);
          await link(home, join(dir, BODY_FILE)).catch(ignoreMissing);
        }
      }
    }
  }
  await makeDurable(leftover.map((l) => l.record));
}

/** How often start-up reports how many entries it has read (FsJournalOptions.onLoadProgress). */
export interface LoadProgress {
  /** Every this many entries (default 100,000). */
  every?: number;
  /** Awaited: start-up goes on when it returns. */
  report(entries: number): void | Promise<void>;
}

/** Entries read between two turns of the event loop: the loop is free to answer requests about every ~30 ms. */
const YIELD_EVERY = 1024;

/**
 * Start-up, second step: reads every entry into `load` and clears what a crash can leave behind. Reading is
 * synchronous (see recoverEntry); every YIELD_EVERY entries it lets the event loop run, so that a server listening
 * meanwhile (`/livez`) answers.
 */
export async function loadJournal(
  layout: JournalLayout,
  load: (lane: LaneId, index: LaneIndex) => void,
  onWarning: (w: FsJournalWarning) => void,
  progress?: LoadProgress,
): Promise<void> {
  let entries = 0;
  const every = progress?.every ?? 100_000;
  for (const lane of await readdir(layout.journal)) {
    const laneDir = layout.laneDir(lane);
    if (!isLaneId(lane)) {
      if (lane !== '.DS_Store') onWarning({ message: 'ignoring a folder that is not a lane', path: laneDir });
      continue;
    }
    const index = new LaneIndex();
    load(lane, index);
    // In id order (stamps sort as ids do): the index is then built by appending. readdir answers in the file
    // system's order (a hash order on ext4), and inserting each entry in the middle of the lane made loading a
    // lane O(n²).
    const stamps: string[] = [];
    for (const name of (await readdir(laneDir)).sort()) {
      const dir = join(laneDir, name);
      if (name.startsWith('.purge-')) await rm(dir, { recursive: true, force: true });
      else if (!isStamp(name)) onWarning({ message: 'ignoring a folder that is not an entry', path: dir });
      else stamps.push(name);
    }
    for (const name of stamps) {
      const entry = await recoverEntry(join(laneDir, name), onWarning);
      if (entry) index.set(entry);
      entries += 1;
      if (entries % YIELD_EVERY === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      if (progress && entries % every === 0) await progress.report(entries);
    }
  }
}

/** A file's bytes, or undefined when it is missing. */
function readIfPresent(file: string): Buffer | undefined {
  try {
    return readFileSync(file);
  } catch (error) {
    return ignoreMissing(error as NodeJS.ErrnoException);
  }
}

/**
 * One entry as start-up finds it. The common case reads synchronously: nothing else runs yet (the API listens once
 * the journal is loaded), and each thread-pool round trip (list the folder; open, stat, read, close config.XML)
 * cost several times the system call: ~0.4 ms per entry, minutes for a backlog of a million. What a crash left
 * behind (temporary files, empty or torn entries) is repaired asynchronously, as before.
 */
async function recoverEntry(dir: string, onWarning: (w: FsJournalWarning) => void): Promise<JournalEntry | undefined> {
  if (readdirSync(dir).some((name) => name.includes('.tmp-'))) await finishInterruptedRename(dir);
  const xml = readIfPresent(join(dir, ENTRY_FILE));
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
    let size: number | undefined;
    try {
      size = statSync(join(dir, BODY_FILE)).size;
    } catch (error) {
      size = ignoreMissing(error as NodeJS.ErrnoException);
    }
    if (size !== entry.size) {
      entry = {
        ...entry,
        status: 'FAILED',
        lastError: `the journal's body is ${size === undefined ? 'missing' : `${size} bytes, expected ${entry.size}`}`,
      };
      await replaceFile(join(dir, ENTRY_FILE), encodeEntry(entry), { sync: 'file', mode: PRIVATE_FILE });
      onWarning({ message: 'a PENDING upload had no complete body: marked FAILED', path: dir });
    }
  }
  return entry;
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

function decodes(xml: Buffer): boolean {
  try {
    decodeEntry(xml);
    return true;
  } catch {
    return false;
  }
}
