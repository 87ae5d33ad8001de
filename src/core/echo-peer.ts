import type { ReplicaEchoFilter } from './echo.js';
import type { JournalEntry } from './entry.js';
import type { StoredBody } from './journal.js';
import type { Peer, ReplayOutcome } from './peer.js';

/**
 * A peer that is some node's own server, seen through the echo filter: every entry's replica is recorded before
 * the first request for it leaves, so its echo — reported by that node's agent once the request applied — always
 * finds its record, in this process or any other sharing the records. A failure to record (the store is down)
 * throws before anything is sent: the caller retries the entry rather than send a replica whose echo would loop.
 */
export class EchoRecordingPeer implements Peer {
  readonly name: string;

  constructor(
    private readonly inner: Peer,
    private readonly echo: ReplicaEchoFilter,
  ) {
    this.name = inner.name;
  }

  probe(): Promise<ReplayOutcome> {
    return this.inner.probe();
  }

  async apply(entry: JournalEntry, openBody: () => Promise<StoredBody>, signal?: AbortSignal): Promise<ReplayOutcome> {
    await this.echo.recordReplica(entry);
    const outcome = await this.inner.apply(entry, openBody, signal);
    if (outcome.kind === 'applied') {
      // Renews the record only if the transfer took more than half the window (otherwise writes nothing); the
      // record made before the request stands if this fails.
      await this.echo.recordReplica(entry).catch(() => undefined);
    }
    return outcome;
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** `peers`, with those that are a node's own server (`nodeOfPeer`) recording their replicas in `echo`. */
export function echoRecordingPeers(
  peers: ReadonlyMap<string, Peer>,
  nodeOfPeer: ReadonlyMap<string, string>,
  echo: ReplicaEchoFilter,
): ReadonlyMap<string, Peer> {
  return new Map(
    [...peers].map(([name, peer]) => [name, nodeOfPeer.has(name) ? new EchoRecordingPeer(peer, echo) : peer]),
  );
}
