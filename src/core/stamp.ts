import { randomBytes, toHex } from './bytes.js';

/**
 * A stamp names one change in the journal: `YYYYMMDDTHHMMSSmmmZ-NNNNNN-rrrrrr`, UTC time, a sequence within the
 * millisecond and a random tail. Fixed width, so lexical order is time order; the sequence orders a burst inside
 * one millisecond; the random tail keeps stamps unique between processes writing one journal (several Lambdas).
 */
export const STAMP_PATTERN = /^\d{8}T\d{9}Z-\d{6}-[0-9a-f]{6}$/;

const SEQUENCE_LIMIT = 1_000_000;

export function isStamp(value: string): boolean {
  return STAMP_PATTERN.test(value);
}

/** The creation time a stamp encodes. */
export function stampTime(stamp: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z/.exec(stamp);
  if (!m) throw new Error(`not a stamp: ${stamp}`);
  const [, y, mo, d, h, mi, s, ms] = m.map(Number) as number[];
  return new Date(Date.UTC(y!, mo! - 1, d!, h!, mi!, s!, ms!));
}

/**
 * A string that sorts before every stamp of time `ms` or later, and after every earlier one: the `after` bound for
 * listing what was stamped since a time.
 */
export function stampFloor(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:.]/g, ''); // 20261127T055429693Z: every stamp of it sorts after
}

/**
 * Issues strictly increasing stamps. Never goes backwards, even if the wall clock does (NTP step) or a
 * restarted process meets stamps it wrote earlier: seed it with the newest stamp found in the journal.
 */
export class StampClock {
  private lastMs = 0;
  private sequence = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** Never issue a stamp at or before this one. */
  seed(stamp: string | undefined): void {
    if (!stamp) return;
    const ms = stampTime(stamp).getTime();
    const seq = Number(stamp.slice(20, 26));
    if (ms > this.lastMs || (ms === this.lastMs && seq >= this.sequence)) {
      this.lastMs = ms;
      this.sequence = seq;
    }
  }

  next(): string {
    const now = this.now();
    if (now > this.lastMs) {
      this.lastMs = now;
      this.sequence = 0;
    } else if (++this.sequence >= SEQUENCE_LIMIT) {
      this.lastMs += 1;
      this.sequence = 0;
    }
    return format(this.lastMs, this.sequence);
  }
}

/** The compact form of the latest second stamped: every id in that second starts with it. */
let stampedSecond = Number.NaN;
let secondPrefix = '';

/** `20261127T055429693Z-000000-a1b2c3`: the time, compact (one ISO conversion per second), sequence, random tail. */
function format(ms: number, sequence: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== stampedSecond) {
    const iso = new Date(second * 1000).toISOString(); // 2026-11-27T05:54:29.000Z
    secondPrefix = iso.slice(0, -5).replace(/[-:]/g, ''); // 20261127T055429
    stampedSecond = second;
  }
  const millis = ms - second * 1000;
  return `${secondPrefix}${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}Z-${String(sequence).padStart(6, '0')}-${randomTail()}`;
}

/**
 * Random bytes drawn 3 at a time from a block filled at once: a call into the CSPRNG per stamp cost more than
 * the rest of making the stamp (about 2 % of a one-request upload's main-thread CPU).
 */
const TAIL_BYTES = 3;
let pool: Uint8Array = new Uint8Array(0);
let drawn = 0;

function randomTail(): string {
  if (drawn + TAIL_BYTES > pool.length) {
    pool = randomBytes(TAIL_BYTES * 1024);
    drawn = 0;
  }
  drawn += TAIL_BYTES;
  return toHex(pool.subarray(drawn - TAIL_BYTES, drawn));
}
