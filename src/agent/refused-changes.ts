import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { appendWhole } from '../adapters/durable-files/append-whole.js';
import { replaceFile } from '../adapters/durable-files/replace-file.js';
import { Outbox, type OutboxEntry } from './outbox.js';

export const REFUSED_LOG = 'refused.jsonl';

/** A change set aside: the outbox entry as it was, and why. */
export interface RefusedChange extends OutboxEntry {
  refusedAt: string;
  /** The relay's HTTP status (none: a local failure, such as a file that could not be read). */
  status?: number;
  /** The relay's error code, or the local error's (EACCES, ...). */
  code?: string;
  message: string;
}

/**
 * The changes the relay refused for good (see refusals.ts), kept in `refused.jsonl` beside the outbox: one JSON
 * record per line, appended and fsynced before the change leaves the outbox, so that a change is always in one
 * of the two (a crash in between leaves it in both: it is sent again, refused again, and listed once).
 */
export class RefusedChanges {
  private readonly seqs: Set<number>;
  /** The paths of the uploads set aside, and the targets of the renames: the peer never got those versions. */
  readonly uploadPaths: ReadonlySet<string>;
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    readonly file: string,
    records: readonly RefusedChange[],
    /** The file ends in the middle of a line (a crash while appending): the next record starts a new one. */
    private tornTail: boolean,
  ) {
    this.seqs = new Set(records.map((r) => r.seq));
    this.uploadPaths = new Set(
      records.flatMap(({ change }) =>
        change.action === 'upload' ? [change.path] : change.action === 'rename' ? [change.target] : [],
      ),
    );
  }

  /** Reads what the outbox folder `dir` already set aside. */
  static async open(dir: string): Promise<RefusedChanges> {
    const file = join(dir, REFUSED_LOG);
    const text = await readText(file);
    return new RefusedChanges(file, parseRefused(text).records, text !== '' && !text.endsWith('\n'));
  }

  /** Changes set aside and not re-queued. */
  get count(): number {
    return this.seqs.size;
  }

  /** Records a refused change durably (resolves once fsynced; rejects if it cannot be written). */
  add(record: RefusedChange): Promise<void> {
    const line = `${this.tornTail ? '\n' : ''}${JSON.stringify(record)}\n`;
    this.tornTail = false;
    const write = this.writing.then(async () => {
      const handle = await open(this.file, 'a', 0o600);
      try {
        await appendWhole(handle, line, (await handle.stat()).size);
        await handle.datasync();
      } finally {
        await handle.close();
      }
      this.seqs.add(record.seq);
    });
    this.writing = write.catch(() => {});
    return write;
  }
}

/** What `refused.jsonl` in `dir` holds: one record per change (the latest), oldest first; unreadable lines counted. */
export async function readRefused(dir: string): Promise<{ records: RefusedChange[]; unreadable: number }> {
  return parseRefused(await readText(join(dir, REFUSED_LOG)));
}

/**
 * Puts set-aside changes back into the outbox in `dir` (at its end, as new changes: an upload then reads the file
 * as it is by then, and is skipped if it is gone) and removes them from `refused.jsonl`. Takes the outbox lock, so
 * the agent must be stopped (OutboxLockedError names it otherwise). `select` picks the records (default: all).
 * The outbox is written first: a crash in between sends a change twice rather than never.
 */
export async function requeueRefused(
  dir: string,
  select: (record: RefusedChange) => boolean = () => true,
): Promise<RefusedChange[]> {
  const outbox = await Outbox.open(dir);
  try {
    const { records } = await readRefused(dir);
    const chosen = records.filter(select);
    if (chosen.length === 0) return [];
    for (const record of chosen) await outbox.append(record.change, record.user);
    const kept = records.filter((r) => !chosen.includes(r));
    await replaceFile(join(dir, REFUSED_LOG), kept.map((r) => `${JSON.stringify(r)}\n`).join(''), {
      temporary: `${join(dir, REFUSED_LOG)}.tmp`,
    });
    return chosen;
  } finally {
    await outbox.close();
  }
}

function parseRefused(text: string): { records: RefusedChange[]; unreadable: number } {
  const bySeq = new Map<number, RefusedChange>();
  let unreadable = 0;
  // The last line may lack its newline (a crash while appending): it counts if it is whole.
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const record = parseRecord(line);
    if (!record) unreadable += 1;
    else {
      bySeq.delete(record.seq); // refused again after a crash: listed once, where it was refused last
      bySeq.set(record.seq, record);
    }
  }
  return { records: [...bySeq.values()], unreadable };
}

function parseRecord(line: string): RefusedChange | undefined {
  try {
    const record = JSON.parse(line) as RefusedChange;
    const valid =
      Number.isSafeInteger(record.seq) &&
      typeof record.change?.action === 'string' &&
      typeof record.change.path === 'string' &&
      typeof record.refusedAt === 'string';
    return valid ? record : undefined;
  } catch {
    return undefined;
  }
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
}
