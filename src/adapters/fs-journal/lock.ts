import { RelayError } from '../../core/errors.js';
import { acquireProcessLock } from '../process-lock/index.js';

/** Another live process already owns this journal folder. */
export class JournalLockedError extends RelayError {
  readonly code = 'JOURNAL_LOCKED';
}

/** One relay per journal folder: two would replay the same entries twice and race on purges. */
export function acquireJournalLock(file: string): Promise<() => Promise<void>> {
  return acquireProcessLock(file, { what: 'the journal', locked: (message) => new JournalLockedError(message) });
}
