import { RelayError } from '../errors.js';
import type { ItemType } from './job.js';

/** One item of a folder listing (WebDAV `PROPFIND Depth: 1`). */
export interface TreeItem {
  /** The name within its folder. */
  name: string;
  type: ItemType;
  /** Files: bytes. */
  size?: number;
  /**
   * ISO 8601. The modified time the relay wrote as a dead property (`Win32LastModifiedTime`) when the server
   * keeps one, else the server's own `getlastmodified` (see docs/convergence.md).
   */
  modified?: string;
  /** As the server spells it (weak or strong); used for conditional writes and to notice a change. */
  etag?: string;
  /**
   * A name the relay cannot journal (normalizePath refuses it: invisible characters, `%2F`, …): listed so that a
   * job can say it did not compare it, never compared or written.
   */
  unsupported?: true;
}

/** A WebDAV server read folder by folder: a job's source, or the peer it checks. */
export interface TreeReader {
  readonly name: string;
  /** The item at `path` itself (`Depth: 0`), or undefined when nothing is there. */
  stat(path: string, signal?: AbortSignal): Promise<TreeItem | undefined>;
  /**
   * The children of the folder at `path` (`Depth: 1`, never `infinity`), sorted by name (code-unit order), or
   * undefined when there is no folder there. Memory holds one folder's listing at a time.
   */
  list(path: string, signal?: AbortSignal): Promise<TreeItem[] | undefined>;
  /** SHA-256 of a file's content (lowercase hex), read as a stream. */
  checksum(path: string, signal?: AbortSignal): Promise<string>;
  close(): Promise<void>;
}

/** A source or peer could not be read (unreachable, refused our credentials, answered nonsense). */
export class TreeReadError extends RelayError {
  readonly code = 'TREE_UNREADABLE';
}

/** The job cannot start from what it found (its path is not a folder on the source). */
export class JobInputError extends RelayError {
  readonly code = 'NOT_A_FOLDER';
}

/** Sorts names the way listings are merged: by UTF-16 code units, like the journal's own ordering. */
export function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
