import { DavClient } from '../adapters/webdav/dav-client.js';
import { WebDavJobWriter } from '../adapters/webdav/job-writer.js';
import { WebDavTreeReader } from '../adapters/webdav/tree-reader.js';
import type { RelayConfig } from '../config/load.js';
import type { JournalEntry } from '../core/entry.js';
import { FolderDeleteGuardPeer } from '../core/folder-delete-guard.js';
import { JobAwarePeer, type JobGate } from '../core/jobs/job-peer.js';
import type { Logger } from '../core/logger.js';
import type { Peer } from '../core/peer.js';

/** What verify and resync jobs need from the configuration, in embedded and cloud mode alike. */
export interface ConvergenceParts {
  /** A reader for every peer and every source, by name (each with its own connection pool). */
  readers: Map<string, WebDavTreeReader>;
  /**
   * The replayers' peers, with job entries routed to a job writer for that peer, behind the delete guard's folder
   * rule (a delete of a folder holding more than `deleteGuard.maxDeletes` entries on the peer is HELD).
   */
  wrap(peers: ReadonlyMap<string, Peer>, gate: JobGate): Map<string, Peer>;
  close(): Promise<void>;
}

export function convergenceParts(config: RelayConfig, logger: Logger): ConvergenceParts {
  const timeoutMs = config.replay.requestTimeoutSeconds * 1000;
  const connections = config.replay.concurrency;
  const readers = new Map<string, WebDavTreeReader>();
  for (const server of [...config.peers, ...config.sources]) {
    const { name, url, username, password } = server;
    readers.set(name, new WebDavTreeReader(name, { url, username, password, connections, timeoutMs }));
  }
  // The writers' own connections: copies waiting on a slow source must not starve the walk's listings.
  const clients = new Map<string, DavClient>();
  for (const server of [...config.peers, ...config.sources]) {
    const { name, url, username, password } = server;
    clients.set(name, new DavClient({ url, username, password, connections, timeoutMs }));
  }
  return {
    readers,
    wrap: (peers, gate) =>
      new Map(
        [...peers].map(([name, peer]) => {
          const settings = config.peers.find((p) => p.name === name);
          const client = clients.get(name);
          if (!settings || !client) return [name, peer];
          const writer = new WebDavJobWriter({
            peer: client,
            sources: clients,
            setModifiedTime: settings.setModifiedTime,
            logger,
          });
          const jobAware = new JobAwarePeer(peer, writer, gate);
          const reader = readers.get(name)!;
          const held = (entry: JournalEntry, reason: string) =>
            entry.job ? gate.record(entry, { kind: 'held', reason }) : Promise.resolve();
          const notSent = async (entry: JournalEntry) => (await gate.refuse(entry)) !== undefined;
          return [name, new FolderDeleteGuardPeer(jobAware, reader, config.deleteGuard.maxDeletes, held, notSent)];
        }),
      ),
    close: async () => {
      await Promise.all([...readers.values()].map((r) => r.close()));
      await Promise.all([...clients.values()].map((c) => c.close()));
    },
  };
}
