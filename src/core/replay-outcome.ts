import type { JournalEntry } from './entry.js';
import { BodyChangedError, NotFoundError } from './errors.js';
import type { LogFields } from './logger.js';
import type { PeerStatus, ReplayOutcome } from './peer.js';

/**
 * What a replay outcome does to an entry and to its peer's health: one policy, shared by the embedded replayer
 * and the cloud replay worker. It branches on the outcome's kind and on the peer's answer as data (HTTP status,
 * network error code), never on the wording of a reason.
 *
 * - A refusal of the credentials (401/403) on one request proves nothing about the credentials: the peer's base
 *   URL is probed, and only a refused probe makes the peer UNAUTHORIZED. If the probe passes, the peer refuses
 *   this path (Apache: `.htaccess`, `.DAV`, a name over 255 bytes): the change is parked as CONFLICT at once.
 * - A failure that may be the change's own (a 5xx other than 503/507, 408, a reset or timeout in the middle of the
 *   exchange) is followed by a probe: if the peer answers it, the peer stays ONLINE and only this change is
 *   retried later; if the probe fails, the peer is down (OFFLINE until a ping finds it back).
 * - A change that fails the same way `maxRepeats` times in a row while the peer otherwise works — each time the
 *   probe passes, and in between other changes were applied — is parked as CONFLICT. A peer that is down never
 *   parks anything: its failures are not counted.
 * - Refused connections, 503, 507 and 429 say the whole peer cannot take requests now: OFFLINE, no probe (it
 *   asked us to wait, or is not there), until a ping — or, with Retry-After, until that time.
 */

/** Attempts in a row that fail the same way, while the peer otherwise works, before a change is parked. */
export const DEFAULT_MAX_REPEATS = 5;

/** How the caller lets the policy look at the peer. */
export interface AttemptContext {
  /** Probes the peer's base URL now (one probe per peer at a time), records what it found, returns the status. */
  probe(): Promise<PeerStatus>;
  /** Whether the peer applied some other change after `since` (ISO time; undefined: at any time). */
  appliedSince(since: string | undefined): boolean;
  at: Date;
  maxRepeats?: number;
}

export interface Settlement {
  /** The attempt's outcome after the policy (a 403 the probe disproves, or a capped failure, is a conflict). */
  outcome: ReplayOutcome;
  /** Fold this into the peer's health; undefined when the policy probed (the probe recorded what it found). */
  health?: ReplayOutcome;
  /** The entry as it must be written back; undefined when the outcome is applied (purge it). */
  entry?: JournalEntry;
  /** The entry stays PENDING while its peer is ONLINE: try it again after a delay, not at once. */
  retryLater: boolean;
}

/** Decides what one attempt comes to. Probes the peer when the answer alone cannot tell. */
export async function settleAttempt(
  entry: JournalEntry,
  outcome: ReplayOutcome,
  context: AttemptContext,
): Promise<Settlement> {
  switch (outcome.kind) {
    case 'applied':
      return { outcome, health: outcome, retryLater: false };
    case 'conflict':
    case 'bad_entry':
      return { outcome, health: outcome, entry: afterFailedAttempt(entry, outcome, context.at), retryLater: false };
    case 'unauthorized': {
      if ((await context.probe()) !== 'ONLINE') {
        return { outcome, entry: afterFailedAttempt(entry, outcome, context.at), retryLater: false };
      }
      const refused: ReplayOutcome = {
        kind: 'conflict',
        reason: `${outcome.reason} (the peer refuses this path; a probe of the peer with the same credentials passed)`,
        ...answerOf(outcome),
      };
      return { outcome: refused, entry: afterFailedAttempt(entry, refused, context.at), retryLater: false };
    }
    case 'offline':
      return settleOffline(entry, outcome, context);
    case 'held':
      // Nothing was sent, and the count that decided it was answered: the peer's health is not in question.
      return { outcome, entry: heldByFolder(entry, outcome.reason, context.at), retryLater: false };
  }
}

/** The entry the delete guard stopped at replay: HELD (rule `folder`) until an operator releases or discards it. */
function heldByFolder(entry: JournalEntry, reason: string, at: Date): JournalEntry {
  const { lastStatus: _status, lastCode: _code, repeats: _repeats, ...rest } = entry;
  return {
    ...rest,
    status: 'HELD',
    hold: 'folder',
    attempts: entry.attempts + 1,
    lastError: sanitize(reason),
    lastAttemptAt: at.toISOString(),
  };
}

async function settleOffline(
  entry: JournalEntry,
  outcome: Extract<ReplayOutcome, { kind: 'offline' }>,
  context: AttemptContext,
): Promise<Settlement> {
  if (!mayBeTheChange(outcome) || (await context.probe()) !== 'ONLINE') {
    // The peer is down, throttling or full: nothing is counted against the change.
    const health = mayBeTheChange(outcome) ? undefined : outcome;
    return { outcome, health, entry: afterFailedAttempt(entry, outcome, context.at), retryLater: false };
  }
  const same = (entry.repeats ?? 0) > 0 && sameFailure(entry, outcome);
  const repeats = !same ? 1 : context.appliedSince(entry.lastAttemptAt) ? entry.repeats! + 1 : entry.repeats!;
  const cap = context.maxRepeats ?? DEFAULT_MAX_REPEATS;
  if (repeats >= cap) {
    const parked: ReplayOutcome = {
      kind: 'conflict',
      reason: `${outcome.reason} (${repeats} attempts in a row failed this way while the peer answered probes and applied other changes)`,
      ...answerOf(outcome),
    };
    return { outcome: parked, entry: { ...afterFailedAttempt(entry, parked, context.at), repeats }, retryLater: false };
  }
  return { outcome, entry: { ...afterFailedAttempt(entry, outcome, context.at), repeats }, retryLater: true };
}

/**
 * Failures that can be the change's own rather than the peer's: the peer answered (a 5xx, 408, 423, 3xx) or the exchange
 * broke half-way (reset, timeout). Not: a connection refused or a name that does not resolve (the peer is not
 * there), 503 / 429 (the peer asks everyone to wait), 507 (the peer's storage is full), an outcome with no
 * answer at all (nothing to tell), or our own abort.
 */
function mayBeTheChange(outcome: Extract<ReplayOutcome, { kind: 'offline' }>): boolean {
  if (outcome.status !== undefined) {
    return (
      outcome.status === 408 ||
      outcome.status === 423 ||
      // A redirect of every path (http:// to https://) fails the probe too: the peer goes OFFLINE. One of some
      // paths only (a proxy rule) is this change's: parked once it stays so, instead of the lane waiting for ever.
      (outcome.status >= 300 && outcome.status < 400) ||
      (outcome.status >= 500 && outcome.status !== 503 && outcome.status !== 507)
    );
  }
  return outcome.code !== undefined && MID_EXCHANGE_CODES.has(outcome.code);
}

const MID_EXCHANGE_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

function sameFailure(entry: JournalEntry, outcome: ReplayOutcome): boolean {
  const answer = answerOf(outcome);
  return answer.status !== undefined ? entry.lastStatus === answer.status : entry.lastCode === answer.code;
}

function answerOf(outcome: ReplayOutcome): { status?: number; code?: string } {
  if (outcome.kind === 'applied' || outcome.kind === 'bad_entry' || outcome.kind === 'held') return {};
  return {
    ...(outcome.status !== undefined && { status: outcome.status }),
    ...(outcome.code !== undefined && { code: outcome.code }),
  };
}

/** Anything a peer adapter did not classify: the entry needs an operator rather than endless retries. */
export function unexpectedOutcome(error: unknown): ReplayOutcome {
  if (error instanceof NotFoundError && error.code === 'BODY_MISSING') {
    return { kind: 'bad_entry', reason: 'the journal has no body for this upload' };
  }
  if (error instanceof BodyChangedError) return { kind: 'bad_entry', reason: error.message };
  return { kind: 'bad_entry', reason: `replay failed: ${(error as Error)?.message ?? String(error)}` };
}

/** The entry after an attempt that did not apply: CONFLICT, FAILED, or still PENDING (peer down). */
export function afterFailedAttempt(
  entry: JournalEntry,
  outcome: Exclude<ReplayOutcome, { kind: 'applied' | 'held' }>,
  at: Date,
): JournalEntry {
  const { lastStatus: _status, lastCode: _code, repeats: _repeats, ...rest } = entry;
  const answer = answerOf(outcome);
  return {
    ...rest,
    status: outcome.kind === 'conflict' ? 'CONFLICT' : outcome.kind === 'bad_entry' ? 'FAILED' : 'PENDING',
    attempts: entry.attempts + 1,
    lastError: sanitize(outcome.reason),
    lastAttemptAt: at.toISOString(),
    ...(answer.status !== undefined && { lastStatus: answer.status }),
    ...(answer.code !== undefined && { lastCode: answer.code }),
  };
}

/** The fields every replay log line carries (CloudWatch Logs Insights queries rely on them). */
export function replayLogFields(entry: JournalEntry, outcome: ReplayOutcome, durationMs: number): LogFields {
  const answer = answerOf(outcome);
  return {
    entryId: entry.id,
    lane: entry.lane,
    peer: entry.peer,
    action: entry.action,
    path: entry.path,
    target: entry.target,
    outcome: outcome.kind,
    ...(answer.status !== undefined && { httpStatus: answer.status }),
    ...(answer.code !== undefined && { errorCode: answer.code }),
    durationMs: Math.round(durationMs),
  };
}

/** Peer answers end up in config.XML and logs: keep them short, printable, and on one line. */
export function sanitize(reason: string): string {
  return reason.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').slice(0, 500);
}
