import { toHex } from '../../core/bytes.js';
import { sha256OfText } from '../../core/digest.js';
import { CONFIG_ROOT, type EntryRef, type JournalEntry } from '../../core/entry.js';
import { CONFIG_LOCATION } from '../../core/lane.js';
import { isSameOrBelow } from '../../core/paths.js';

/**
 * # MessageGroupId: `<lane>.g<bucket>` — why order still holds
 *
 * SQS FIFO delivers the messages of one group in order and never hands out a group's next message while one is
 * in flight; different groups go to different Lambda invocations in parallel. A lane is spread over
 * `groupsPerLane` buckets by the entry's own path below the VFS location (`/user_homes/john/a.txt` →
 * hash("john/a.txt") mod N; a rename by its source), and entries on the location itself (`makedir /user_homes`)
 * use the group `<lane>.root`. Configuration documents hash `scope/name`.
 *
 * The group is only a scheduling hint; the order guarantee comes from the journal, the source of truth:
 * before applying an entry, the replay worker lists the lane's older entries and applies it only when none of
 * them overlaps it (same path, ancestor or descendant, rename source or target) — the embedded replayer's rule,
 * with the same code (`PathMarks`, `overlaps`). Otherwise the entry waits: for an older entry this process is
 * replaying, in the process; for any other, its message is acknowledged and the worker registers it on the
 * blocker's wait list, and whoever completes the blocker re-rings it. Hence:
 *
 * - Changes to one path share a group, so the most common overlap (a file written, then written again, touched,
 *   renamed or deleted) arrives in order and never waits.
 * - Overlaps across paths — a file and its folder, a rename, an entry on the location root — may arrive in
 *   different groups and out of order; the journal check makes the newer one wait, so they are still applied
 *   oldest first. Nothing else can reorder two entries: a group decides only when a message is delivered.
 * - Files of one folder spread over the N groups and replay in parallel (an older scheme grouped by the first
 *   folder below the location, and a home folder of 400 files replayed one by one).
 * - A duplicate or late message is harmless: the same entry always maps to the same group (serialised by SQS),
 *   an entry already purged is acknowledged and skipped, and re-applying one is idempotent on the peer.
 */
export const DEFAULT_GROUPS_PER_LANE = 16;
export const MAX_GROUPS_PER_LANE = 1000;

/** SQS's limit for MessageGroupId and MessageDeduplicationId. */
export const MAX_SQS_ID_LENGTH = 128;
/** Both ids allow alphanumerics and ASCII punctuation only. */
const SQS_ID = /^[\x21-\x7e]+$/;

export type GroupedEntry = Pick<JournalEntry, 'lane' | 'location' | 'path'>;

/** What decides an entry's bucket: its path below the location; undefined on the location itself. */
export function groupKey(entry: GroupedEntry): string | undefined {
  if (entry.location === CONFIG_LOCATION) {
    const rel = entry.path.startsWith(`${CONFIG_ROOT}/`) ? entry.path.slice(CONFIG_ROOT.length + 1) : entry.path;
    return rel === '' ? undefined : rel;
  }
  if (!isSameOrBelow(entry.path, entry.location) || entry.path === entry.location) return undefined;
  return entry.path.slice(entry.location === '/' ? 1 : entry.location.length + 1);
}

export function messageGroupId(entry: GroupedEntry, groupsPerLane = DEFAULT_GROUPS_PER_LANE): string {
  checkGroupsPerLane(groupsPerLane);
  const key = groupKey(entry);
  if (key === undefined) return `${entry.lane}.root`;
  const bucket = firstWord(sha256OfText(key)) % groupsPerLane;
  return `${entry.lane}.g${String(bucket).padStart(String(groupsPerLane - 1).length, '0')}`;
}

export function checkGroupsPerLane(value: number): void {
  if (!Number.isInteger(value) || value < 1 || value > MAX_GROUPS_PER_LANE) {
    throw new RangeError(`groupsPerLane must be an integer from 1 to ${MAX_GROUPS_PER_LANE}, not ${value}`);
  }
}

/**
 * `<lane>.<id>` for an entry's first announcement, so that the same ring sent twice (an SDK retry, a commit
 * repeated) is one message within SQS's 5-minute deduplication window. A re-drive names its cause
 * (`<lane>.<id>.after.<blocker id>`, `….sweep.<n>`): it must not be swallowed as a duplicate of the first ring,
 * yet two workers re-driving for the same cause still collapse into one message.
 */
export function deduplicationId(ref: EntryRef, cause?: string): string {
  return fitSqsId(cause ? `${ref.lane}.${ref.id}.${cause}` : `${ref.lane}.${ref.id}`);
}

/** Keeps a value that fits; otherwise a readable head and the SHA-256 of the whole, 128 characters in all. */
export function fitSqsId(value: string): string {
  if (value.length <= MAX_SQS_ID_LENGTH && SQS_ID.test(value)) return value;
  const hash = toHex(sha256OfText(value));
  const head = value.replace(/[^\x21-\x7e]/g, '_').slice(0, MAX_SQS_ID_LENGTH - hash.length - 1);
  return `${head}~${hash}`;
}

/** The first four bytes, big-endian (what Buffer#readUInt32BE(0) read). */
function firstWord(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0);
}
