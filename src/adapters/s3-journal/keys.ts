import type { EntryRef } from '../../core/entry.js';
import type { LaneId } from '../../core/lane.js';

export const JOURNAL_DIR = 'multi_journal';
export const ENTRY_FILE = 'config.XML';
export const BODY_FILE = 'upload';

/** Where a journal lives in S3: `s3://<bucket>/<prefix>`. */
export interface S3Location {
  bucket: string;
  /** Without leading or trailing slashes; '' for the bucket's root. */
  prefix: string;
}

/** S3 bucket naming rules (general purpose buckets): 3–63 of a-z 0-9 . -, starting and ending alphanumeric. */
const BUCKET_PATTERN = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Parses the `journal` setting `s3://bucket/prefix` (prefix optional, any depth). Refuses what S3 or the journal
 * layout could not hold: a bad bucket name, empty, `.` or `..` prefix segments, control characters.
 */
export function parseS3Url(url: string): S3Location {
  const match = /^s3:\/\/([^/]*)(?:\/(.*))?$/.exec(url);
  if (!match) throw new Error(`"${url}" is not an s3://bucket/prefix URL`);
  const bucket = match[1]!;
  if (!BUCKET_PATTERN.test(bucket) || bucket.includes('..')) {
    throw new Error(`"${bucket}" is not a valid S3 bucket name (3-63 characters: a-z 0-9 . -)`);
  }
  return { bucket, prefix: normalizePrefix(match[2] ?? '') };
}

export function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  if (trimmed === '') return '';
  const segments = trimmed.split('/');
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') {
      throw new Error(`the S3 journal prefix "${prefix}" has an empty, "." or ".." segment`);
    }
    if (/[\u0000-\u001f\u007f]/.test(segment)) {
      throw new Error(`the S3 journal prefix "${prefix}" contains control characters`);
    }
  }
  return trimmed;
}

/** The key scheme, identical to the folder layout: `<prefix>/multi_journal/<lane>/<id>/{config.XML,upload}`. */
export class JournalKeys {
  /** `<prefix>/multi_journal/` (or `multi_journal/` at the bucket's root). */
  readonly root: string;

  constructor(prefix: string) {
    const normalized = normalizePrefix(prefix);
    this.root = `${normalized === '' ? '' : `${normalized}/`}${JOURNAL_DIR}/`;
  }

  lane(lane: LaneId): string {
    return `${this.root}${lane}/`;
  }

  entry(ref: EntryRef): string {
    return `${this.root}${ref.lane}/${ref.id}/`;
  }

  config(ref: EntryRef): string {
    return `${this.entry(ref)}${ENTRY_FILE}`;
  }

  body(ref: EntryRef): string {
    return `${this.entry(ref)}${BODY_FILE}`;
  }

  /** Splits a key of a lane listing into its entry id and file name; undefined for keys not two levels deep. */
  parseLaneKey(lane: LaneId, key: string): { id: string; name: string } | undefined {
    const lanePrefix = this.lane(lane);
    if (!key.startsWith(lanePrefix)) return undefined;
    const rest = key.slice(lanePrefix.length);
    const slash = rest.indexOf('/');
    if (slash <= 0) return undefined;
    return { id: rest.slice(0, slash), name: rest.slice(slash + 1) };
  }
}
