import type { Logger } from '../../core/logger.js';
import type { Peer, PeerMonitor, PeerState, PeerStatus, ReplayOutcome } from '../../core/peer.js';
import { isWaiting, nextPeerState, type PeerStateStore, statusOf } from './peer-state.js';

export interface SharedPeerHealthOptions {
  peers: ReadonlyMap<string, Peer>;
  store: PeerStateStore;
  logger: Logger;
  /** How long this process trusts an ONLINE it has read (default 5 s). A peer that is down is re-read each time. */
  onlineCacheMs?: number;
  now?: () => Date;
}

const WRITE_ATTEMPTS = 5;

/**
 * Peer health kept in a PeerStateStore (S3) so that every Lambda sees the same thing: the embedded PeerHealth's
 * rules, minus its in-memory state. A peer never recorded is presumed ONLINE (as at the embedded relay's start).
 * Reads of ONLINE are cached briefly (one GET per few seconds per process, not per message); a peer that is not
 * ONLINE is read afresh every time, so a worker resumes as soon as a ping finds it back.
 */
export class SharedPeerHealth implements PeerMonitor {
  private readonly cache = new Map<string, { state: PeerState; at: number }>();
  /** When this process last saw each peer apply a change (the replay policy's evidence that it works). */
  private readonly lastApplied = new Map<string, string>();
  private readonly probing = new Map<string, Promise<PeerState>>();
  private readonly reading = new Map<string, Promise<PeerState>>();
  private readonly onlineCacheMs: number;
  private readonly now: () => Date;

  constructor(private readonly options: SharedPeerHealthOptions) {
    this.onlineCacheMs = options.onlineCacheMs ?? 5000;
    this.now = options.now ?? (() => new Date());
  }

  async state(peer: string): Promise<PeerState> {
    if (!this.options.peers.has(peer)) return { status: 'OFFLINE', lastError: 'unknown peer' };
    const { state } = await this.options.store.read(peer);
    const current = state ?? { status: 'ONLINE' };
    this.remember(peer, current);
    return { ...current };
  }

  async status(peer: string): Promise<PeerStatus> {
    const cached = this.cache.get(peer);
    if (cached?.state.status === 'ONLINE' && Date.now() - cached.at < this.onlineCacheMs) return 'ONLINE';
    // The replays of a batch ask at once: one read answers all of them.
    let reading = this.reading.get(peer);
    if (!reading) {
      reading = this.state(peer).finally(() => this.reading.delete(peer));
      this.reading.set(peer, reading);
    }
    return (await reading).status;
  }

  /** Whether this process saw the peer apply a change after `since` (ISO time; undefined: ever). */
  appliedSince(peer: string, since: string | undefined): boolean {
    const last = this.lastApplied.get(peer);
    return last !== undefined && (since === undefined || last > since);
  }

  /** The replay policy's probe: probes now, unless the peer asked to wait (Retry-After); then its status. */
  async probeStatus(peer: string): Promise<PeerStatus> {
    const state = await this.state(peer);
    if (isWaiting(state, this.now().getTime())) return state.status;
    return (await this.ping(peer)).status;
  }

  /** Probes the peer now and records the answer (lastPingAt). Callers in this process at once share one probe. */
  ping(peer: string): Promise<PeerState> {
    let running = this.probing.get(peer);
    if (!running) {
      const target = this.options.peers.get(peer);
      if (!target) return this.state(peer);
      running = target
        .probe()
        .catch((error: Error): ReplayOutcome => ({ kind: 'offline', reason: error.message }))
        // Before recording: whoever asks once the answer is known probes afresh.
        .finally(() => this.probing.delete(peer))
        .then((outcome) => this.record(peer, outcome, true));
      this.probing.set(peer, running);
    }
    return running;
  }

  /**
   * Folds a replay outcome or probe into the shared state. Writes only what changes (a status, or lastPingAt
   * after a probe), with a conditional write so that two processes cannot both announce the same transition.
   */
  async record(peer: string, outcome: ReplayOutcome, probed = false): Promise<PeerState> {
    if (outcome.kind === 'applied' && !probed) this.lastApplied.set(peer, this.now().toISOString());
    const cached = this.cache.get(peer);
    if (!probed && cached && statusOf(outcome) === cached.state.status && cached.state.status === 'ONLINE') {
      if (Date.now() - cached.at < this.onlineCacheMs) return { ...cached.state };
    }
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      const { state, version } = await this.options.store.read(peer);
      const previous = state ?? { status: 'ONLINE' as const };
      const next = nextPeerState(previous, outcome, probed, this.now().toISOString());
      const changed =
        next.status !== previous.status ||
        probed ||
        next.lastError !== previous.lastError ||
        next.retryAt !== previous.retryAt;
      if (!changed) {
        this.remember(peer, previous);
        return { ...previous };
      }
      if (await this.options.store.write(peer, next, version)) {
        this.remember(peer, next);
        if (next.status !== previous.status) this.logTransition(peer, previous, next);
        return { ...next };
      }
    }
    // Others keep writing: theirs is as fresh as ours.
    return this.state(peer);
  }

  private remember(peer: string, state: PeerState): void {
    this.cache.set(peer, { state: { ...state }, at: Date.now() });
  }

  private logTransition(peer: string, previous: PeerState, next: PeerState): void {
    const log = next.status === 'ONLINE' ? this.options.logger.info : this.options.logger.warn;
    log.call(this.options.logger, `peer is ${next.status}`, {
      peer,
      status: next.status,
      previous: previous.status,
      reason: next.lastError,
    });
  }
}
