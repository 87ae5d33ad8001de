import { RelayError } from '../../core/errors.js';
import { acquirePidLock } from '../pid-lock.js';

/** Another live process already owns this journal folder. */
export class JournalLockedError extends RelayError {
  readonly code = 'JOURNAL_LOCKED';
}

/** One relay per journal folder: two would replay the same entries twice and race on purges. */
export function acquireJournalLock(file: string): Promise<() => Promise<void>> {
  return acquirePidLock(file, {
    what: 'the journal',
    sameProcess: 'reuse',
    locked: (message) => new JournalLockedError(message),
  });
}
