import type { Logger } from './logger.js';
import type { Peer, PeerMonitor, PeerState, PeerStatus, ReplayOutcome } from './peer.js';

/**
 * The relay's view of each peer's health. Replay outcomes and probes update it; listeners hear when a peer comes
 * back ONLINE (to drain its backlog) or goes down (to stop its lanes).
 */
export class PeerHealth implements PeerMonitor {
  private readonly states = new Map<string, PeerState>();
  private readonly listeners: ((peer: string, state: PeerState) => void)[] = [];

  constructor(
    private readonly peers: ReadonlyMap<string, Peer>,
    private readonly logger: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {
    for (const name of peers.keys()) this.states.set(name, { status: 'ONLINE' });
  }

  onChange(listener: (peer: string, state: PeerState) => void): void {
    this.listeners.push(listener);
  }

  async state(peer: string): Promise<PeerState> {
    return { ...(this.states.get(peer) ?? { status: 'OFFLINE', lastError: 'unknown peer' }) };
  }

  current(peer: string): PeerStatus {
    return this.states.get(peer)?.status ?? 'OFFLINE';
  }

  async ping(name: string): Promise<PeerState> {
    const peer = this.peers.get(name);
    if (!peer) return this.state(name);
    const outcome = await peer
      .probe()
      .catch((error: Error): ReplayOutcome => ({ kind: 'offline', reason: error.message }));
    this.record(name, outcome, true);
    return this.state(name);
  }

  /** Folds a replay outcome or probe result into the peer's status. Conflicts say nothing about health. */
  record(name: string, outcome: ReplayOutcome, probed = false): void {
    const previous = this.states.get(name) ?? { status: 'ONLINE' };
    const status: PeerStatus | undefined =
      outcome.kind === 'offline' ? 'OFFLINE' : outcome.kind === 'unauthorized' ? 'UNAUTHORIZED' : 'ONLINE';
    const at = this.now().toISOString();
    const next: PeerState = { ...previous, status };
    if (probed) next.lastPingAt = at;
    if (status !== previous.status) next.since = at;
    if (outcome.kind === 'offline' || outcome.kind === 'unauthorized') next.lastError = outcome.reason;
    else delete next.lastError;
    this.states.set(name, next);
    if (status !== previous.status) {
      const log = status === 'ONLINE' ? this.logger.info : this.logger.warn;
      log.call(this.logger, `peer is ${status}`, {
        peer: name,
        status,
        previous: previous.status,
        reason: next.lastError,
      });
      for (const listener of this.listeners) listener(name, { ...next });
    }
  }
}
