import type { Logger } from './logger.js';
import type { Peer, PeerMonitor, PeerState, PeerStatus, ReplayOutcome } from './peer.js';

/** A Retry-After shorter than this is stretched to it (no busy loop on `Retry-After: 0`). */
export const MIN_RETRY_AFTER_MS = 1000;
/** A Retry-After longer than this is cut to it: the peer is probed again then (and may ask for more). */
export const MAX_RETRY_AFTER_MS = 3600_000;

/**
 * The relay's view of each peer's health. Replay outcomes and probes update it; listeners hear when a peer comes
 * back ONLINE (to drain its backlog) or goes down (to stop its lanes). A peer that asked to wait (Retry-After) is
 * probed again as soon as the wait is over, not at the next scheduled ping.
 */
export class PeerHealth implements PeerMonitor {
  private readonly states = new Map<string, PeerState>();
  private readonly listeners: ((peer: string, state: PeerState) => void)[] = [];
  /**
   * When each peer last applied a change (evidence that it works, for the replay policy's attempt cap), in ms since
   * the epoch: set for every replayed change, so kept as the clock's number rather than formatted each time.
   */
  private readonly lastApplied = new Map<string, number>();
  private readonly probing = new Map<string, Promise<PeerState>>();
  private readonly resumeTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private closed = false;

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

  /** True while the peer's Retry-After has not passed: scheduled pings leave it alone. */
  waiting(peer: string): boolean {
    const state = this.states.get(peer);
    return state !== undefined && isWaiting(state, this.now().getTime());
  }

  /** Whether the peer applied a change after `since` (ISO time; undefined: ever, since this process started). */
  appliedSince(peer: string, since: string | undefined): boolean {
    const last = this.lastApplied.get(peer);
    return last !== undefined && (since === undefined || last > Date.parse(since));
  }

  /** Probes the peer now and records the answer. Callers at the same time share one probe. */
  ping(name: string): Promise<PeerState> {
    let running = this.probing.get(name);
    if (!running) {
      running = this.ask(name)
        // Before recording: whoever asks once the answer is known (a replay its listeners start) probes afresh.
        .finally(() => this.probing.delete(name))
        .then((outcome) => {
          if (outcome) this.record(name, outcome, true);
          return this.state(name);
        });
      this.probing.set(name, running);
    }
    return running;
  }

  /**
   * What the replay policy asks after a failure it cannot judge alone: probes the peer now — unless the peer asked
   * to wait (Retry-After), which no probe ends early; then its current status.
   */
  async probeStatus(name: string): Promise<PeerStatus> {
    return this.waiting(name) ? this.current(name) : (await this.ping(name)).status;
  }

  /** Folds a replay outcome or probe result into the peer's status. Conflicts say nothing about health. */
  record(name: string, outcome: ReplayOutcome, probed = false): void {
    const previous = this.states.get(name) ?? { status: 'ONLINE' };
    const time = this.now();
    if (outcome.kind === 'applied' && !probed) this.lastApplied.set(name, time.getTime());
    // What nearly every replay reports: an ONLINE peer with nothing to wait for or to clear answered again.
    // nextPeerState would return a copy equal to the state it has (every replayed file used to pay for that).
    if (!probed && unchangedOnline(previous, outcome)) return;
    const at = time.toISOString();
    const next = nextPeerState(previous, outcome, probed, at);
    this.states.set(name, next);
    if (next.retryAt !== previous.retryAt) this.scheduleResume(name, next.retryAt);
    if (next.status !== previous.status) {
      const log = next.status === 'ONLINE' ? this.logger.info : this.logger.warn;
      log.call(this.logger, `peer is ${next.status}`, {
        peer: name,
        status: next.status,
        previous: previous.status,
        reason: next.lastError,
        ...(next.retryAt && { retryAt: next.retryAt }),
      });
      for (const listener of this.listeners) listener(name, { ...next });
    }
  }

  /** Stops the timers that probe a peer when its Retry-After has passed. */
  close(): void {
    this.closed = true;
    for (const timer of this.resumeTimers.values()) clearTimeout(timer);
    this.resumeTimers.clear();
  }

  private async ask(name: string): Promise<ReplayOutcome | undefined> {
    const peer = this.peers.get(name);
    if (!peer) return undefined;
    return peer.probe().catch((error: Error): ReplayOutcome => ({ kind: 'offline', reason: error.message }));
  }

  private scheduleResume(name: string, retryAt: string | undefined): void {
    const existing = this.resumeTimers.get(name);
    if (existing) clearTimeout(existing);
    this.resumeTimers.delete(name);
    if (retryAt === undefined || this.closed) return;
    const timer = setTimeout(
      () => {
        this.resumeTimers.delete(name);
        void this.ping(name);
      },
      Math.max(0, Date.parse(retryAt) - this.now().getTime()),
    );
    (timer as { unref?: () => void }).unref?.();
    this.resumeTimers.set(name, timer);
  }
}

/** True when `outcome`, not from a probe, leaves `previous` as it is (see nextPeerState). */
function unchangedOnline(previous: PeerState, outcome: ReplayOutcome): boolean {
  return (
    previous.status === 'ONLINE' &&
    previous.retryAt === undefined &&
    previous.lastError === undefined &&
    statusOf(outcome) === 'ONLINE'
  );
}

/** The status a replay outcome or probe says the peer has. Conflicts say nothing bad about its health. */
export function statusOf(outcome: ReplayOutcome): PeerStatus {
  return outcome.kind === 'offline' ? 'OFFLINE' : outcome.kind === 'unauthorized' ? 'UNAUTHORIZED' : 'ONLINE';
}

/** Whether the peer asked to wait (Retry-After) until after `nowMs`: no probe may end that wait early. */
export function isWaiting(state: PeerState, nowMs: number): boolean {
  return state.retryAt !== undefined && Date.parse(state.retryAt) > nowMs;
}

/**
 * Folds an outcome into a peer's state (the embedded PeerHealth and the cloud's shared state alike). A peer that
 * asked to wait (Retry-After, kept as `retryAt`) stays down until then: an answer to a request that was already
 * in flight does not end the wait; only a probe does (made when the wait is over).
 */
export function nextPeerState(previous: PeerState, outcome: ReplayOutcome, probed: boolean, at: string): PeerState {
  const now = Date.parse(at);
  const waiting = isWaiting(previous, now);
  const status = statusOf(outcome);
  if (waiting && !probed && status === 'ONLINE') return { ...previous };
  const next: PeerState = { ...previous, status };
  delete next.retryAt;
  if (outcome.kind === 'offline' && outcome.retryAfterMs !== undefined) {
    const wait = Math.min(Math.max(outcome.retryAfterMs, MIN_RETRY_AFTER_MS), MAX_RETRY_AFTER_MS);
    next.retryAt = new Date(now + wait).toISOString();
  } else if (waiting && status !== 'ONLINE') {
    next.retryAt = previous.retryAt;
  }
  if (probed) next.lastPingAt = at;
  if (status !== previous.status) next.since = at;
  if (outcome.kind === 'offline' || outcome.kind === 'unauthorized') next.lastError = outcome.reason;
  else delete next.lastError;
  return next;
}
