import type { JournalEntry } from './entry.js';
import { childPath } from './jobs/compare.js';
import { TreeReadError, type TreeReader } from './jobs/tree.js';
import type { StoredBody } from './journal.js';
import type { Peer, ReplayOutcome } from './peer.js';

/**
 * The delete guard's second rule, checked at replay (CONTRACT "Delete guard"): a delete whose folder holds more
 * than `maxDeletes` entries on the peer is not sent; it becomes HELD for an operator. The entries are counted on
 * the peer itself — `PROPFIND Depth: 0` of the path (a file costs that one request), then folder by folder
 * (`Depth: 1`, never `infinity`) — and the count stops at
 * `maxDeletes + 1`: a folder of a million files costs a few listings, not a million. A delete an operator released
 * (rule `folder`) is sent without counting; one released from the window rule is counted.
 */
export class FolderDeleteGuardPeer implements Peer {
  readonly name: string;

  constructor(
    private readonly inner: Peer,
    /** Reads the peer folder by folder. */
    private readonly reader: TreeReader,
    private readonly maxDeletes: number,
    /** Told about every delete it holds (a resync job counts its held removals). */
    private readonly onHeld?: (entry: JournalEntry, reason: string) => Promise<void>,
    /**
     * True for a job's delete that its job will not send (the job stopped, or a live change touched the path):
     * neither counted nor held, it goes to the inner peer, which answers for the job.
     */
    private readonly notSent?: (entry: JournalEntry) => Promise<boolean>,
  ) {
    this.name = inner.name;
  }

  probe(): Promise<ReplayOutcome> {
    return this.inner.probe();
  }

  async apply(entry: JournalEntry, openBody: () => Promise<StoredBody>, signal?: AbortSignal): Promise<ReplayOutcome> {
    // Released from a folder hold: sent without counting again. Released from a window hold, it is counted like any
    // delete (the operator let a burst through, not a delete of a big folder).
    const removes = entry.action === 'delete' ? entry.path : entry.action === 'rename' ? entry.target : undefined;
    if (this.maxDeletes <= 0 || removes === undefined || (entry.released && entry.hold === 'folder')) {
      return this.inner.apply(entry, openBody, signal);
    }
    // Held, it would hold the live change that made the job stand back behind it until an operator acted.
    if (entry.job && (await this.notSent?.(entry))) return this.inner.apply(entry, openBody, signal);
    let count: number;
    try {
      count = await countEntries(this.reader, removes, this.maxDeletes + 1, signal);
    } catch (error) {
      // Not counted, not sent: the delete waits like any change whose peer did not answer.
      if (error instanceof TreeReadError) return { kind: 'offline', reason: `delete guard: ${error.message}` };
      throw error;
    }
    if (count <= this.maxDeletes) return this.inner.apply(entry, openBody, signal);
    // Counting can take a while: a live change may have touched the path meanwhile.
    if (entry.job && (await this.notSent?.(entry))) return this.inner.apply(entry, openBody, signal);
    const reason =
      `delete guard: ${removes} holds more than ${this.maxDeletes} entries on ${this.name}; ` +
      'release it to delete them all, or discard it';
    await this.onHeld?.(entry, reason);
    return { kind: 'held', reason };
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * Entries at any depth below `path` on the server (files and folders, `path` itself not counted), counted folder
 * by folder and stopping once `stopAt` are seen. 0 for a file or nothing at `path`.
 */
export async function countEntries(
  reader: TreeReader,
  path: string,
  stopAt: number,
  signal?: AbortSignal,
): Promise<number> {
  // Depth 0 first: a file is answered in one request (servers refuse a folder listing of a file: Apache 400).
  if ((await reader.stat(path, signal))?.type !== 'dir') return 0;
  let count = 0;
  const folders = [path];
  while (folders.length > 0) {
    const folder = folders.pop()!;
    const items = await reader.list(folder, signal);
    for (const item of items ?? []) {
      count += 1;
      if (count >= stopAt) return count;
      if (item.type === 'dir') folders.push(childPath(folder, item.name));
    }
  }
  return count;
}
