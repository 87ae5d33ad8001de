import { readFile } from 'node:fs/promises';
import { replaceFile } from '../adapters/durable-files/replace-file.js';
import type { FileStat } from './file-index.js';

/** `index.json` in the outbox folder: what the folder held when the agent last reported a change. */
export const INDEX_FILE = 'index.json';
const VERSION = 2;

/** Version 1 rows had no birth time (read as unknown). */
type Row = [path: string, kind: 0 | 1, dev: number, ino: number, size: number, mtimeMs: number, birthtimeMs?: number];

/** A path and what is remembered of it as one row: `index.json` holds them, and so do the logs (index-log.ts). */
export function toRow(path: string, s: FileStat): Row {
  return [path, s.kind === 'dir' ? 1 : 0, s.dev, s.ino, s.size, s.mtimeMs, s.birthtimeMs ?? 0];
}

/** A row read back (`width` 6: written before birth times were kept), or undefined when it is malformed. */
export function fromRow(row: unknown, width = 7): [string, FileStat] | undefined {
  if (!Array.isArray(row) || row.length !== width || typeof row[0] !== 'string') return undefined;
  const [path, kind, dev, ino, size, mtimeMs, birthtimeMs = 0] = row as Row;
  if (![dev, ino, size, mtimeMs, birthtimeMs].every(Number.isFinite)) return undefined;
  return [path, { kind: kind === 1 ? 'dir' : 'file', dev, ino, size, mtimeMs, birthtimeMs }];
}

/** The remembered state as `index.json` holds it, and the number of the first log that applies on top of it. */
export interface SavedIndex {
  entries: Map<string, FileStat>;
  /** Absent in an index an agent without logs wrote (see index-log.ts). */
  log: number | undefined;
}

/**
 * Writes the remembered state of the watched folder (see RenameDetector.remembered) under a temporary name, then
 * renames it into place: a crash leaves the previous file or the new one. Not fsynced: losing the latest one only
 * makes the next start send again what the older one does not know of (at least once). `log` names the first
 * log (index-log.ts) whose records apply on top of it.
 */
export async function saveIndex(file: string, entries: readonly [string, FileStat][], log?: number): Promise<void> {
  const rows = entries.map(([path, s]) => toRow(path, s));
  await replaceFile(file, JSON.stringify({ version: VERSION, log, rows }), { sync: 'none', temporary: `${file}.tmp` });
}

/**
 * The remembered state, or undefined when there is none (a first start). A file that cannot be read or parsed
 * also gives undefined — the agent then starts as it would the first time — and `onDamaged` says why, so that
 * the operator learns that removals made while the agent was stopped will not be sent.
 */
export async function loadIndex(
  file: string,
  onDamaged: (reason: string) => void = () => {},
): Promise<SavedIndex | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') onDamaged(`cannot be read (${(error as Error).message})`);
    return undefined;
  }
  const damaged = (reason: string) => {
    onDamaged(reason);
    return undefined;
  };
  let parsed: { version?: unknown; log?: unknown; rows?: unknown };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch {
    return damaged('is not valid JSON (cut short?)');
  }
  if (parsed.version !== 1 && parsed.version !== VERSION)
    return damaged(`has unknown version ${String(parsed.version)}`);
  if (!Array.isArray(parsed.rows)) return damaged('holds no rows');
  if (parsed.log !== undefined && !(Number.isSafeInteger(parsed.log) && (parsed.log as number) > 0))
    return damaged('names no valid log');
  const width = parsed.version === 1 ? 6 : 7;
  const out = new Map<string, FileStat>();
  for (const row of parsed.rows as unknown[]) {
    const read = fromRow(row, width);
    if (!read) return damaged('has a malformed row');
    out.set(...read);
  }
  return { entries: out, log: parsed.log as number | undefined };
}
