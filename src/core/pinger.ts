import type { Logger } from './logger.js';
import type { PeerMonitor, PeerState } from './peer.js';
import type { PeerHealth } from './peer-health.js';
import type { Replayer } from './replayer.js';

export interface PingSchedule {
  peer: string;
  intervalSeconds: number;
}

/**
 * At start, and then every `pingIntervalSeconds` per peer: probe it — unless it asked to wait (Retry-After:
 * PeerHealth probes it when the wait is over), or it is ONLINE and applied a change since the last tick (that is
 * proof enough) — and sweep the journal for entries no ring announced. A peer that is not ONLINE drains once it
 * answers; an idle ONLINE one is probed so that one which went down while nothing was replayed is reported as such
 * (status, metrics, alerts), not ONLINE until the next change. Also the API's PeerMonitor: `ping` probes now and
 * drains if online.
 */
export class Pinger implements PeerMonitor {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly inFlight = new Map<string, Promise<PeerState>>();
  /** When each peer's last tick ran (ISO): a peer that applied a change since then is not probed. */
  private readonly lastTick = new Map<string, string>();

  constructor(
    private readonly health: PeerHealth,
    private readonly replayer: Replayer,
    private readonly logger: Logger,
  ) {}

  start(schedules: readonly PingSchedule[]): void {
    for (const { peer, intervalSeconds } of schedules) {
      // Probed once at start: a peer is taken to be ONLINE until something says otherwise, and a wrong url or
      // password, or a peer that is down, on a relay with nothing to replay was reported ONLINE for good.
      void this.ping(peer).catch((error: unknown) => this.logger.error('ping failed', { peer, error }));
      this.lastTick.set(peer, new Date().toISOString());
      const timer = setInterval(() => void this.tick(peer), intervalSeconds * 1000);
      timer.unref();
      this.timers.push(timer);
    }
  }

  stop(): void {
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    this.health.close();
  }

  state(peer: string): Promise<PeerState> {
    return this.health.state(peer);
  }

  /** Probes now (one probe per peer at a time); an ONLINE answer drains the backlog. */
  ping(peer: string): Promise<PeerState> {
    let running = this.inFlight.get(peer);
    if (!running) {
      running = this.health.ping(peer).finally(() => this.inFlight.delete(peer));
      this.inFlight.set(peer, running);
    }
    return running.then((state) => {
      if (state.status === 'ONLINE') this.replayer.schedulePeer(peer);
      return state;
    });
  }

  private async tick(peer: string): Promise<void> {
    try {
      const since = this.lastTick.get(peer);
      this.lastTick.set(peer, new Date().toISOString());
      const busy = this.health.current(peer) === 'ONLINE' && this.health.appliedSince(peer, since);
      if (!busy && !this.health.waiting(peer)) await this.ping(peer);
      await this.replayer.sweep();
    } catch (error) {
      this.logger.error('ping failed', { peer, error });
    }
  }
}
