import type { Difference, JobCounts, JobOptions, PendingFolder, PlannedWrite, SideInfo } from './job.js';
import { forEachLimit } from './limit.js';
import type { JobScope } from './scope.js';
import type { TreeItem } from './tree.js';

/** Modified times within this many milliseconds are the same (CONTRACT: ±2 s; FAT and HTTP dates are coarse). */
export const MODIFIED_SLACK_MS = 2000;

/** What comparing one folder's two listings found, and what a resync would write for it. */
export interface FolderResult {
  folder: PendingFolder;
  /** Folders to walk next. */
  children: PendingFolder[];
  differences: Difference[];
  counts: Partial<JobCounts>;
  /** Bytes of the source's files found missing or different. */
  bytes: number;
  /** In order: for one path, a removal comes before the write that replaces it. */
  writes: PlannedWrite[];
  /** Paths whose names the relay cannot replicate (TreeItem.unsupported), not compared. */
  unsupported: string[];
}

export interface CompareOptions extends JobOptions {
  scope: JobScope;
  /** SHA-256 of a file on the source and on the peer (only asked with `checksum`, for files of equal size). */
  checksums?: (path: string) => Promise<{ source: string; peer: string }>;
  /** Files hashed at once within one folder (default 4). */
  checksumConcurrency?: number;
}

/**
 * Compares one folder: its source listing with its peer listing (undefined when the peer has no such folder),
 * merged by name. Type first, then size, then modified time (±2 s) — or SHA-256 of both sides with `checksum`. A
 * folder is never different because of its own modified time.
 */
export async function compareFolder(
  folder: PendingFolder,
  source: readonly TreeItem[],
  peer: readonly TreeItem[] | undefined,
  options: CompareOptions,
): Promise<FolderResult> {
  const result: FolderResult = {
    folder,
    children: [],
    differences: [],
    counts: {},
    bytes: 0,
    writes: [],
    unsupported: [],
  };
  const peerByName = new Map((peer ?? []).map((item) => [item.name, item]));
  const sums = await checksumsOf(folder.path, source, peerByName, options);
  for (const item of source) {
    const path = childPath(folder.path, item.name);
    const scope = options.scope.of(path);
    const other = peerByName.get(item.name);
    peerByName.delete(item.name);
    if (scope === 'out') continue;
    if (item.unsupported || other?.unsupported) {
      unsupported(result, path);
      continue;
    }
    if (scope === 'through') {
      // A file on the peer where the way to a location is: everything below is missing there (walked as absent).
      if (item.type === 'dir') result.children.push(childFolder(path, other?.type !== 'dir'));
      continue;
    }
    if (!other) missing(result, path, item);
    else both(result, path, item, other, options, sums.get(path));
  }
  for (const item of peerByName.values()) {
    const path = childPath(folder.path, item.name);
    if (options.scope.of(path) !== 'in') continue;
    if (item.unsupported) {
      unsupported(result, path);
      continue;
    }
    count(result, 'scanned');
    count(result, 'extra');
    result.differences.push({ path, kind: 'extra', source: null, peer: side(item) });
    if (options.delete && !options.scope.isLocationRoot(path)) {
      result.writes.push({ op: 'delete', path, ifMatch: fileEtag(item), why: 'extra' });
    }
  }
  return result;
}

function unsupported(result: FolderResult, path: string): void {
  count(result, 'unsupported');
  result.unsupported.push(path);
}

function missing(result: FolderResult, path: string, item: TreeItem): void {
  count(result, 'scanned');
  count(result, 'missing');
  result.differences.push({ path, kind: 'missing', source: side(item), peer: null });
  if (item.type === 'dir') {
    result.children.push(childFolder(path, true));
    result.writes.push({ op: 'makedir', path, ifNoneMatch: '*' });
  } else {
    result.bytes += item.size ?? 0;
    result.writes.push(copy(path, item, { ifNoneMatch: '*' }));
  }
}

function both(
  result: FolderResult,
  path: string,
  item: TreeItem,
  other: TreeItem,
  options: CompareOptions,
  sums: { source: string; peer: string } | undefined,
): void {
  count(result, 'scanned');
  if (item.type === 'dir' && other.type === 'dir') {
    count(result, 'same');
    result.children.push(childFolder(path, false));
    return;
  }
  const reason = item.type !== other.type ? 'type' : fileDifference(item, other, options, sums);
  if (!reason) {
    count(result, 'same');
    return;
  }
  count(result, 'different');
  result.differences.push({ path, kind: 'different', source: side(item), peer: side(other), reason });
  if (item.type === 'file') result.bytes += item.size ?? 0;
  if (reason !== 'type') {
    result.writes.push(copy(path, item, { ifMatch: other.etag }));
    return;
  }
  if (options.scope.isLocationRoot(path)) return;
  if (item.type === 'dir') {
    // A file where the source has a folder: replace the file, then walk the folder as missing on the peer.
    result.writes.push({ op: 'delete', path, ifMatch: fileEtag(other), why: 'replace' });
    result.writes.push({ op: 'makedir', path, ifNoneMatch: '*' });
    result.children.push(childFolder(path, true));
  } else if (options.delete) {
    // A folder where the source has a file: removing it removes its contents, so only with `delete`.
    result.writes.push({ op: 'delete', path, why: 'replace' });
    result.writes.push(copy(path, item, { ifNoneMatch: '*' }));
  }
}

function fileDifference(
  item: TreeItem,
  other: TreeItem,
  options: CompareOptions,
  sums: { source: string; peer: string } | undefined,
): Difference['reason'] {
  if ((item.size ?? 0) !== (other.size ?? 0)) return 'size';
  if (options.checksum) return sums && sums.source === sums.peer ? undefined : 'checksum';
  return sameModified(item.modified, other.modified) ? undefined : 'modified';
}

/** With `checksum`: both sides' SHA-256 of every in-scope file present on both with equal sizes, by path. */
async function checksumsOf(
  folder: string,
  source: readonly TreeItem[],
  peerByName: ReadonlyMap<string, TreeItem>,
  options: CompareOptions,
): Promise<Map<string, { source: string; peer: string }>> {
  const sums = new Map<string, { source: string; peer: string }>();
  const { checksums } = options;
  if (!options.checksum || !checksums) return sums;
  const paths = source
    .filter((item) => {
      const other = peerByName.get(item.name);
      return item.type === 'file' && other?.type === 'file' && (item.size ?? 0) === (other.size ?? 0);
    })
    .map((item) => childPath(folder, item.name))
    .filter((path) => options.scope.of(path) === 'in');
  await forEachLimit(paths, options.checksumConcurrency ?? 4, async (path) => {
    sums.set(path, await checksums(path));
  });
  return sums;
}

export function sameModified(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  const diff = Math.abs(Date.parse(a) - Date.parse(b));
  return Number.isFinite(diff) && diff <= MODIFIED_SLACK_MS;
}

function copy(path: string, item: TreeItem, condition: { ifMatch?: string; ifNoneMatch?: '*' }): PlannedWrite {
  const write: PlannedWrite = { op: 'copy', path, size: item.size ?? 0 };
  if (item.modified) write.modified = item.modified;
  if (item.etag) write.fromEtag = item.etag;
  if (condition.ifNoneMatch) write.ifNoneMatch = condition.ifNoneMatch;
  else if (condition.ifMatch) write.ifMatch = condition.ifMatch;
  return write;
}

/**
 * A removal is conditional on a file's ETag. Not on a folder's: mod_dav applies an untagged `If` to every member
 * of a collection it deletes (424), and a folder's ETag says nothing about changes deeper down anyway.
 */
function fileEtag(item: TreeItem): string | undefined {
  return item.type === 'file' ? item.etag : undefined;
}

function side(item: TreeItem): SideInfo {
  const info: SideInfo = { type: item.type };
  if (item.type === 'file' && item.size !== undefined) info.size = item.size;
  if (item.modified) info.modified = item.modified;
  return info;
}

function childFolder(path: string, peerAbsent: boolean): PendingFolder {
  return peerAbsent ? { path, peerAbsent: true } : { path };
}

function count(result: FolderResult, key: keyof JobCounts): void {
  result.counts[key] = (result.counts[key] ?? 0) + 1;
}

export function childPath(folder: string, name: string): string {
  return folder === '/' ? `/${name}` : `${folder}/${name}`;
}
