import { WebDavPeer } from '../adapters/webdav/peer.js';
import type { RelayConfig } from '../config/load.js';
import type { Logger } from '../core/logger.js';
import type { Peer } from '../core/peer.js';

/**
 * One WebDAV peer per configured peer, by name (embedded and cloud mode alike). `probeTimeoutMs` bounds each probe
 * as a whole (see WebDavPeerOptions); unset, a probe's requests have the replay's request timeout each.
 */
export function webDavPeers(
  config: RelayConfig,
  logger: Logger,
  options: { probeTimeoutMs?: number } = {},
): Map<string, Peer> {
  return new Map<string, Peer>(
    config.peers.map((p) => [
      p.name,
      new WebDavPeer({
        name: p.name,
        url: p.url,
        username: p.username,
        password: p.password,
        connections: config.replay.concurrency,
        timeoutMs: config.replay.requestTimeoutSeconds * 1000,
        setModifiedTime: p.setModifiedTime,
        ...(options.probeTimeoutMs !== undefined && { probeTimeoutMs: options.probeTimeoutMs }),
        probePaths: config.vfs.filter((location) => location.replicate).map((location) => location.path),
        logger,
      }),
    ]),
  );
}
