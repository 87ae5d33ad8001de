import { normalizeS3Prefix } from '../../config/locations.js';
import type { EntryRef } from '../../core/entry.js';
import type { LaneId } from '../../core/lane.js';

export const JOURNAL_DIR = 'multi_journal';
export const ENTRY_FILE = 'config.XML';
export const BODY_FILE = 'upload';

export { normalizeS3Prefix as normalizePrefix, parseS3Url, type S3Location } from '../../config/locations.js';

/** The key scheme, identical to the folder layout: `<prefix>/multi_journal/<lane>/<id>/{config.XML,upload}`. */
export class JournalKeys {
  /** `<prefix>/multi_journal/` (or `multi_journal/` at the bucket's root). */
  readonly root: string;

  constructor(prefix: string) {
    const normalized = normalizeS3Prefix(prefix);
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
