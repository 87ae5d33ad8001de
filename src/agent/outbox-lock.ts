import { acquirePidLock } from '../adapters/pid-lock.js';
import { OutboxLockedError } from './errors.js';

/** One agent per outbox: two would send the same changes twice and interleave their records. */
export function acquireOutboxLock(file: string): Promise<() => Promise<void>> {
  return acquirePidLock(file, {
    what: 'the outbox',
    sameProcess: 'refuse',
    locked: (message) => new OutboxLockedError(message),
  });
}
