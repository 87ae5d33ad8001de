import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { appendWhole } from '../adapters/durable-files/append-whole.js';
import { GroupCommit } from '../adapters/durable-files/group-commit.js';
import { replaceFile } from '../adapters/durable-files/replace-file.js';
import { OutboxCorruptError } from './errors.js';
import { acquireOutboxLock } from './outbox-lock.js';
import type { LocalChange } from './rename-detector.js';

/** One change waiting to be acknowledged by the relay. */
export interface OutboxEntry {
  /** Position in the outbox: strictly increasing, never reused (also across compactions and restarts). */
  seq: number;
  /** When the change was detected (ISO 8601). */
  at: string;
  change: LocalChange;
  /** Who made the change on the node, sent with it. */
  user?: string;
}

export interface OutboxOptions {
  /** Rewrite the log once it has grown past this many bytes (default 1 MiB). */
  compactBytes?: number;
}

export const OUTBOX_LOG = 'outbox.log';
export const OUTBOX_LOCK = 'agent.lock';
const ACTIONS = new Set(['upload', 'makedir', 'delete', 'rename']);

/**
 * The agent's durable queue of detected changes, so that nothing is lost while the relay is unreachable or the
 * agent itself is down.
 *
 * Format: one JSON record per line in `outbox.log` — `{"seq","at","change","user"}` when a change is added,
 * `{"ack":seq}` when the relay has acknowledged it, `{"next":seq}` as the first line after a compaction. A change
 * is pending when it has no ack. Every write is fsynced before it is reported done (concurrent writes share one
 * fsync), and a change is visible to `entries()` only once it is durable. A crash can tear only the last line:
 * `open()` drops such a line. The log is rewritten with just the pending changes at open and whenever it has grown
 * past `compactBytes`, under a temporary name renamed into place.
 */
export class Outbox {
  private readonly pending: OutboxEntry[] = [];
  /** Lines waiting for the next write; each round of `commit` writes and fsyncs all of them at once. */
  private lines: string[] = [];
  /** What those lines do to `pending`, applied once they are durable (and before any compaction). */
  private effects: Effect[] = [];
  /** Acks being written: a second ack of the same change adds nothing. */
  private readonly acking = new Set<number>();
  /** The log is rewritten once it is larger than this: `compactBytes`, or twice what the last rewrite left. */
  private compactAt: number;
  private readonly commit = new GroupCommit(() => this.flush());
  private waiters: (() => void)[] = [];
  private handle: Awaited<ReturnType<typeof open>> | undefined;
  private bytes = 0;
  private broken: unknown;
  private closed = false;

  private constructor(
    readonly dir: string,
    private nextSeq: number,
    private readonly compactBytes: number,
    private readonly releaseLock: () => Promise<void>,
  ) {
    this.compactAt = compactBytes;
  }

  /** Opens (creating if needed) the outbox in `dir`, takes its lock and loads what is still pending. */
  static async open(dir: string, options: OutboxOptions = {}): Promise<Outbox> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const release = await acquireOutboxLock(join(dir, OUTBOX_LOCK));
    try {
      const { entries, next } = parseLog(join(dir, OUTBOX_LOG), await readLog(join(dir, OUTBOX_LOG)));
      const outbox = new Outbox(dir, next, options.compactBytes ?? 1024 * 1024, release);
      outbox.pending.push(...entries);
      await outbox.compact();
      return outbox;
    } catch (error) {
      await release();
      throw error;
    }
  }

  /** Pending changes, oldest first. */
  entries(): readonly OutboxEntry[] {
    return this.pending;
  }

  get size(): number {
    return this.pending.length;
  }

  head(): OutboxEntry | undefined {
    return this.pending[0];
  }

  /** Adds a change; resolves once it is durable (and only then is it pending). */
  async append(change: LocalChange, user?: string): Promise<OutboxEntry> {
    const entry: OutboxEntry = { seq: this.nextSeq++, at: new Date().toISOString(), change, ...(user ? { user } : {}) };
    await this.write(JSON.stringify(entry), { add: entry });
    return entry;
  }

  /**
   * The relay has the change: it leaves the pending ones once its ack is durable, when this resolves. Until then
   * it is still pending, so that no newer change to its paths goes out before a crash could bring it back.
   */
  async ack(seq: number): Promise<void> {
    if (this.acking.has(seq) || !this.pending.some((e) => e.seq === seq)) return;
    this.acking.add(seq);
    try {
      await this.write(JSON.stringify({ ack: seq }), { ack: seq });
    } finally {
      this.acking.delete(seq);
    }
  }

  /** Resolves as soon as at least one change is pending. */
  whenNotEmpty(signal?: AbortSignal): Promise<void> {
    if (this.pending.length > 0) return Promise.resolve();
    return this.whenAppended(signal);
  }

  /** Resolves at the next append (once it is durable). */
  whenAppended(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.waiters = this.waiters.filter((w) => w !== wake);
        reject(signal!.reason);
      };
      const wake = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(wake);
    });
  }

  /** Waits for the writes in progress, closes the log and releases the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.commit.settled();
    await this.handle?.close();
    this.handle = undefined;
    await this.releaseLock();
  }

  private async write(line: string, effect: Effect): Promise<void> {
    if (this.closed) throw new Error('the outbox is closed');
    if (this.broken) throw this.broken;
    this.lines.push(`${line}\n`);
    this.effects.push(effect);
    await this.commit.request();
  }

  /**
   * One round of the group commit: whatever queued up while the previous fsync ran, in one write and one fsync.
   * Once durable, the batch's changes become pending and its acks leave, before a compaction rewrites the log
   * from `pending`: the rewrite holds what the batch added and none of what it acknowledged.
   */
  private async flush(): Promise<void> {
    const text = this.lines.join('');
    const effects = this.effects;
    this.lines = [];
    this.effects = [];
    // Callers that asked while the previous round ran may have had their lines written by it: if that round failed,
    // this one (with nothing left to write) must not report them durable.
    if (this.broken) throw this.broken;
    if (text === '') return;
    try {
      await appendWhole(this.handle!, text, this.bytes);
      await this.handle!.datasync();
      this.bytes += Buffer.byteLength(text);
    } catch (error) {
      // A half-written batch would leave a torn line in the middle of the log: stop writing altogether.
      this.broken ??= error;
      throw error;
    }
    let added = false;
    for (const effect of effects) {
      if ('add' in effect) {
        this.pending.push(effect.add); // seqs grow with every append: the list stays in order
        added = true;
      } else {
        const at = this.pending.findIndex((e) => e.seq === effect.ack);
        if (at !== -1) this.pending.splice(at, 1);
      }
    }
    if (added) for (const wake of this.waiters.splice(0)) wake();
    if (this.bytes > this.compactAt) {
      try {
        await this.compact();
      } catch (error) {
        this.broken ??= error;
      }
    }
  }

  /** Rewrites the log with only the pending changes. Runs when no write is in progress. */
  private async compact(): Promise<void> {
    const file = join(this.dir, OUTBOX_LOG);
    const lines = [JSON.stringify({ next: this.nextSeq }), ...this.pending.map((e) => JSON.stringify(e))];
    const text = `${lines.join('\n')}\n`;
    await this.handle?.close();
    this.handle = undefined;
    await replaceFile(file, text, { temporary: `${file}.tmp` }); // open() clears a leftover
    this.handle = await open(file, 'a');
    this.bytes = Buffer.byteLength(text);
    // A long backlog is not rewritten after every batch: only once as much again has been written since.
    this.compactAt = Math.max(this.compactBytes, 2 * this.bytes);
  }
}

/** What a line of the log does to the pending changes once it is durable. */
type Effect = { add: OutboxEntry } | { ack: number };

async function readLog(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      await rm(`${file}.tmp`, { force: true });
      return '';
    }
    throw error;
  }
}

/** Replays the log: adds minus acks, in order. A torn last line (no newline, or unreadable) is dropped. */
function parseLog(file: string, text: string): { entries: OutboxEntry[]; next: number } {
  const lines = text.split('\n');
  // Whatever follows the last newline was never completely written.
  lines.pop();
  const added = new Map<number, OutboxEntry>();
  let next = 1;
  lines.forEach((line, i) => {
    if (line === '') return;
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      if (i === lines.length - 1) return; // a torn tail that happened to end on a newline byte
      throw new OutboxCorruptError(`${file} line ${i + 1} is not JSON; move the file away to start empty`);
    }
    if (typeof record.next === 'number') next = Math.max(next, record.next);
    else if (typeof record.ack === 'number') added.delete(record.ack);
    else {
      const entry = checkEntry(record, `${file} line ${i + 1}`);
      added.set(entry.seq, entry);
      next = Math.max(next, entry.seq + 1);
    }
  });
  return { entries: [...added.values()].sort((a, b) => a.seq - b.seq), next };
}

function checkEntry(record: Record<string, unknown>, where: string): OutboxEntry {
  const change = record.change as Record<string, unknown> | undefined;
  const valid =
    Number.isSafeInteger(record.seq) &&
    typeof record.at === 'string' &&
    typeof change === 'object' &&
    change !== null &&
    typeof change.action === 'string' &&
    ACTIONS.has(change.action) &&
    typeof change.path === 'string' &&
    (change.action !== 'rename' || typeof change.target === 'string') &&
    (record.user === undefined || typeof record.user === 'string');
  if (!valid) throw new OutboxCorruptError(`${where} is not an outbox record`);
  return record as unknown as OutboxEntry;
}
