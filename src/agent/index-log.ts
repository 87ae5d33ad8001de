import { appendFile, readdir, readFile, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { FileStat } from './file-index.js';
import { fromRow, loadIndex, saveIndex, toRow } from './index-file.js';

/**
 * What changed in the remembered folder state since `index.json` was written: `index.<n>.log` beside it, one JSON
 * line per batch — the changes of one turn of the event loop — holding each path set (`["s", path, kind, dev, ino,
 * size, mtimeMs, birthtimeMs]`) or forgotten (`["d", path]`). A batch is the unit a replay applies: within one,
 * the state passes through steps that were never a state of the agent (a removed file leaves the index before it
 * joins the removals waiting for a pair), so a batch cut short is dropped whole.
 * `index.json` names the first log that applies on top of it; logs are numbered on, and a start replays them in
 * order. Each batch is appended only after the changes reported before it are in the outbox, so a kill at any
 * moment leaves the saved state at or behind what was reported, never ahead: what it does not know is sent again
 * (at least once), what it knows was reported. Without the log the state was up to INDEX_SAVE_MS old, and a first
 * start killed before its first save left none at all (the next start missed what changed while it was down).
 */
export class IndexLog {
  private pending: string[] = [];
  private scheduled = false;
  private writing: Promise<void> = Promise.resolve();
  private recording = false;

  /**
   * @param reported resolves once every change reported so far is durable in the outbox (taken when a batch is
   *   written, so it covers the changes reported together with that batch's paths)
   * @param writable false once the outbox failed: nothing more may be recorded as reported
   */
  constructor(
    private readonly indexFile: string,
    private generation: number,
    private readonly reported: () => Promise<unknown>,
    private readonly writable: () => boolean,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** The log that follows `index.json` number `generation`. */
  static file(indexFile: string, generation: number): string {
    return join(dirname(indexFile), `${basename(indexFile, '.json')}.${generation}.log`);
  }

  /** Starts recording (the state up to now is in `index.json` or in the logs already written). */
  start(): void {
    this.recording = true;
  }

  /** A path the state now holds with `stat`, or no longer holds (undefined). */
  record(path: string, stat: FileStat | undefined): void {
    if (!this.recording) return;
    this.pending.push(JSON.stringify(stat ? ['s', ...toRow(path, stat)] : ['d', path]));
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /**
   * Writes what was recorded so far into the current log and starts the next one: a snapshot of the state taken
   * now applies together with the log number returned. Resolves once the earlier logs are written.
   */
  async rotate(): Promise<number> {
    this.recording = true;
    this.flush();
    this.generation += 1;
    await this.writing;
    return this.generation;
  }

  private flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const lines = `[${this.pending.join(',')}]\n`;
    this.pending = [];
    const file = IndexLog.file(this.indexFile, this.generation);
    const reported = this.reported();
    this.writing = this.writing
      .then(async () => {
        await reported;
        if (this.writable()) await appendFile(file, lines, { mode: 0o600 });
      })
      .catch(this.onError);
  }
}

/**
 * Applies the logs numbered `first` or later on to `state`, in order, a batch (a line) at a time. A line that
 * cannot be read ends the replay there (a batch cut short by a crash: what came before it is a state the agent was
 * in).
 * @returns whether any log was there, and where the replay ended early if that was not at the very end
 */
export async function replayLogs(
  indexFile: string,
  first: number,
  state: Map<string, FileStat>,
): Promise<{ found: boolean; damaged?: string }> {
  const numbers = (await logNumbers(indexFile)).filter((n) => n >= first).sort((a, b) => a - b);
  for (const [k, n] of numbers.entries()) {
    let text: string;
    try {
      text = await readFile(IndexLog.file(indexFile, n), 'utf8');
    } catch (error) {
      return { found: true, damaged: `index.${n}.log cannot be read: ${(error as Error).message}` };
    }
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i += 1) {
      if (lines[i] === '' || applyLine(lines[i]!, state)) continue;
      const atTheEnd = i === lines.length - 1 && k === numbers.length - 1;
      return { found: true, damaged: atTheEnd ? undefined : `index.${n}.log, line ${i + 1}` };
    }
  }
  return { found: numbers.length > 0 };
}

/**
 * The remembered state at start: `index.json` and the logs after it. When logs were there, they are folded into
 * a new `index.json` at once, so that this run's log starts on a state written whole.
 * @returns the state (undefined on a first start: no `index.json`), the number this run's log takes, and where a
 *   damaged log ended the replay early (what was reported after that point is not known: it may be sent again)
 */
export async function openIndex(
  indexFile: string,
  onDamaged: (reason: string) => void,
  onNotSaved: (error: unknown) => void,
): Promise<{ previous?: Map<string, FileStat>; generation: number; damaged?: string }> {
  const saved = await loadIndex(indexFile, onDamaged);
  if (!saved) {
    // A first start killed before it saved its state: its log applies to nothing.
    await removeLogs(indexFile).catch(onNotSaved);
    return { generation: 1 };
  }
  const { found, damaged } =
    saved.log === undefined ? { found: false } : await replayLogs(indexFile, saved.log, saved.entries);
  if (saved.log !== undefined && !found) return { previous: saved.entries, generation: saved.log };
  // Numbered after every log there: if the state cannot be written now, a later start replays the logs in order.
  const generation = Math.max(saved.log ?? 0, ...(await logNumbers(indexFile))) + 1;
  try {
    await saveIndex(indexFile, [...saved.entries], generation);
    await removeLogs(indexFile, (n) => n < generation);
  } catch (error) {
    onNotSaved(error);
  }
  return { previous: saved.entries, generation, damaged };
}

/** The numbers of the logs beside `indexFile`. */
export async function logNumbers(indexFile: string): Promise<number[]> {
  const prefix = `${basename(indexFile, '.json')}.`;
  const names = await readdir(dirname(indexFile)).catch(() => [] as string[]);
  return names
    .map((name) => (name.startsWith(prefix) && name.endsWith('.log') ? Number(name.slice(prefix.length, -4)) : NaN))
    .filter(Number.isInteger);
}

/** Removes the logs whose number `select` picks (all of them: a first start that never saved its state). */
export async function removeLogs(indexFile: string, select: (n: number) => boolean = () => true): Promise<void> {
  for (const n of await logNumbers(indexFile)) if (select(n)) await rm(IndexLog.file(indexFile, n), { force: true });
}

/** Applies one batch, all of it or (a line that does not read as one) nothing. */
function applyLine(line: string, state: Map<string, FileStat>): boolean {
  let batch: unknown;
  try {
    batch = JSON.parse(line);
  } catch {
    return false;
  }
  if (!Array.isArray(batch)) return false;
  const ops: [string, FileStat | undefined][] = [];
  for (const op of batch as unknown[]) {
    if (!Array.isArray(op) || typeof op[1] !== 'string') return false;
    if (op[0] === 'd' && op.length === 2) {
      ops.push([op[1], undefined]);
      continue;
    }
    // A set: `s` and an index.json row (the kind, unlike there, must be a number).
    const read = op[0] === 's' && Number.isFinite(op[2]) ? fromRow(op.slice(1)) : undefined;
    if (!read) return false;
    ops.push(read);
  }
  for (const [path, stat] of ops) {
    if (stat) state.set(path, stat);
    else state.delete(path);
  }
  return true;
}
