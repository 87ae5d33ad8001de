import { JournalStorageError } from '../../../core/errors.js';
import { type Touch, type TouchKind, TouchSet } from '../../../core/jobs/touch-set.js';
import { parentOf } from '../../../core/paths.js';
import type { StampClock } from '../../../core/stamp.js';
import type { S3Objects } from './s3-objects.js';

/**
 * Cloud mode's touch set (src/core/jobs/touch-set.ts), shared by the processes: while a writing resync runs, the
 * API writes each live change's paths as one empty object per path, `<prefix>/touches/<stamp>~<t|n>~<path>`,
 * before it journals the change; the job's walk and the replay workers list them.
 *
 * Listing reads only keys newer than the last listing minus MARGIN_MS (stamps sort by time). That is safe as long
 * as a touch is written within STALL_MS of its stamp (the writer refuses the change otherwise) and the processes'
 * clocks agree within MARGIN_MS - STALL_MS (90 s; Lambda's are NTP-synchronised to milliseconds).
 */
export const MARGIN_MS = 120_000;
export const STALL_MS = 30_000;
/** Longest encoded path kept in a key (S3 keys are at most 1024 bytes); deeper paths are cut to an ancestor. */
const MAX_ENCODED = 700;

export class TouchLogWriter {
  private readonly root: string;

  constructor(
    private readonly s3: S3Objects,
    private readonly clock: StampClock,
  ) {
    this.root = `${s3.root}touches/`;
  }

  async record(touches: readonly Touch[]): Promise<void> {
    const started = Date.now();
    const stamp = this.clock.next();
    await Promise.all(touches.map((touch) => this.s3.put(`${this.root}${stamp}~${keyPart(touch)}`)));
    if (Date.now() - started > STALL_MS) {
      // Readers may already have listed past this stamp: the change must not be journaled.
      throw new JournalStorageError('recording the change for a running resync took too long; send it again');
    }
  }

  /** Removes touches stamped before `before` (none is needed by a job that started after it). */
  async removeBefore(before: number): Promise<number> {
    const bound = `${this.root}${stampAt(before)}`;
    const old: string[] = [];
    for await (const key of this.s3.keys(this.root)) {
      if (key >= bound) break;
      old.push(key);
    }
    await this.s3.remove(old);
    return old.length;
  }
}

/** One job's view of the touch log, kept up to date by `refresh`. */
export class TouchLogReader {
  private readonly set = new TouchSet();
  private readonly seen = new Map<string, number>();
  private lastRefresh: number | undefined;
  private readonly root: string;

  /** `since`: the job's start (epoch ms); touches from MARGIN_MS before it are read too. */
  constructor(
    private readonly s3: S3Objects,
    private readonly since: number,
  ) {
    this.root = `${s3.root}touches/`;
  }

  async refresh(): Promise<void> {
    const started = Date.now();
    const from = (this.lastRefresh ?? this.since) - MARGIN_MS;
    for await (const key of this.s3.keys(this.root, `${this.root}${stampAt(from)}`)) {
      if (this.seen.has(key)) continue;
      const touch = parseKey(key.slice(this.root.length));
      if (!touch) continue;
      this.seen.set(key, started);
      this.set.add(touch);
    }
    // Keys older than the next listing's start are never listed again: forget them (the set keeps their paths).
    for (const [key, at] of this.seen) if (at < started - 2 * MARGIN_MS) this.seen.delete(key);
    this.lastRefresh = started;
  }

  touches(path: string): boolean {
    return this.set.touches(path);
  }
}

function keyPart(touch: Touch): string {
  let { path, kind } = touch;
  let encoded = Buffer.from(path).toString('base64url');
  while (encoded.length > MAX_ENCODED) {
    // Covering more is safe: the job leaves more alone.
    path = parentOf(path);
    kind = 'tree';
    encoded = Buffer.from(path).toString('base64url');
  }
  return `${kind === 'tree' ? 't' : 'n'}~${encoded}`;
}

function parseKey(name: string): Touch | undefined {
  const [, kind, encoded] = name.split('~');
  if ((kind !== 't' && kind !== 'n') || encoded === undefined) return undefined;
  const path = Buffer.from(encoded, 'base64url').toString('utf8');
  if (!path.startsWith('/')) return undefined;
  return { path, kind: (kind === 't' ? 'tree' : 'node') as TouchKind };
}

/** The time part of a stamp (`YYYYMMDDTHHMMSSmmmZ`), which sorts before every stamp of that millisecond. */
function stampAt(ms: number): string {
  return new Date(Math.max(0, ms)).toISOString().replace(/[-:.]/g, '');
}
