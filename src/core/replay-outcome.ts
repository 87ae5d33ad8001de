import type { JournalEntry } from './entry.js';
import { NotFoundError } from './errors.js';
import type { LogFields } from './logger.js';
import type { ReplayOutcome } from './peer.js';

/**
 * What a replay outcome does to an entry, shared by the embedded replayer and the cloud replay worker so that
 * both apply one policy.
 */

/** Anything a peer adapter did not classify: the entry needs an operator rather than endless retries. */
export function unexpectedOutcome(error: unknown): ReplayOutcome {
  if (error instanceof NotFoundError && error.code === 'BODY_MISSING') {
    return { kind: 'bad_entry', reason: 'the journal has no body for this upload' };
  }
  return { kind: 'bad_entry', reason: `replay failed: ${(error as Error)?.message ?? String(error)}` };
}

/**
 * A 403 reads as bad credentials (the peer goes UNAUTHORIZED until a ping passes). When the same entry is refused
 * with 403 again after a ping found the credentials good, the peer forbids this path: park it as a CONFLICT rather
 * than flap between UNAUTHORIZED and ONLINE forever.
 */
export function forbiddenPath(entry: JournalEntry, outcome: ReplayOutcome): ReplayOutcome {
  if (outcome.kind === 'unauthorized' && /HTTP 403/.test(outcome.reason) && entry.lastError?.includes('HTTP 403')) {
    return { kind: 'conflict', reason: `the peer forbids this path (${outcome.reason}) although its credentials work` };
  }
  return outcome;
}

/** The entry after an attempt that did not apply: CONFLICT, FAILED, or still PENDING (peer down). */
export function afterFailedAttempt(
  entry: JournalEntry,
  outcome: Exclude<ReplayOutcome, { kind: 'applied' }>,
  at: Date,
): JournalEntry {
  return {
    ...entry,
    status: outcome.kind === 'conflict' ? 'CONFLICT' : outcome.kind === 'bad_entry' ? 'FAILED' : 'PENDING',
    attempts: entry.attempts + 1,
    lastError: sanitize(outcome.reason),
    lastAttemptAt: at.toISOString(),
  };
}

/** The fields every replay log line carries (CloudWatch Logs Insights queries rely on them). */
export function replayLogFields(entry: JournalEntry, outcome: ReplayOutcome, durationMs: number): LogFields {
  return {
    entryId: entry.id,
    lane: entry.lane,
    peer: entry.peer,
    action: entry.action,
    path: entry.path,
    target: entry.target,
    outcome: outcome.kind,
    durationMs: Math.round(durationMs),
  };
}

/** Peer answers end up in config.XML and logs: keep them short, printable, and on one line. */
export function sanitize(reason: string): string {
  return reason.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').slice(0, 500);
}
