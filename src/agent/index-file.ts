import { readFile, rename, writeFile } from 'node:fs/promises';
import type { FileStat } from './file-index.js';

/** `index.json` in the outbox folder: what the folder held when the agent last reported a change. */
export const INDEX_FILE = 'index.json';
const VERSION = 1;

type Row = [path: string, kind: 0 | 1, dev: number, ino: number, size: number, mtimeMs: number];

/**
 * Writes the remembered state of the watched folder (see RenameDetector.remembered) under a temporary name, then
 * renames it into place: a crash leaves the previous file or the new one. Not fsynced: losing the latest one only
 * makes the next start send again what the older one does not know of (at least once).
 */
export async function saveIndex(file: string, entries: readonly [string, FileStat][]): Promise<void> {
  const rows: Row[] = entries.map(([path, s]) => [path, s.kind === 'dir' ? 1 : 0, s.dev, s.ino, s.size, s.mtimeMs]);
  await writeFile(`${file}.tmp`, JSON.stringify({ version: VERSION, rows }), { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}

/** The remembered state, or undefined when there is none (first start) or it cannot be read (then: first start). */
export async function loadIndex(file: string): Promise<Map<string, FileStat> | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const parsed = JSON.parse(text) as { version?: unknown; rows?: unknown };
    if (parsed.version !== VERSION || !Array.isArray(parsed.rows)) return undefined;
    const out = new Map<string, FileStat>();
    for (const row of parsed.rows as unknown[]) {
      if (!Array.isArray(row) || row.length !== 6 || typeof row[0] !== 'string') return undefined;
      const [path, kind, dev, ino, size, mtimeMs] = row as Row;
      if (![dev, ino, size, mtimeMs].every(Number.isFinite)) return undefined;
      out.set(path, { kind: kind === 1 ? 'dir' : 'file', dev, ino, size, mtimeMs });
    }
    return out;
  } catch {
    return undefined;
  }
}
