import { acquireProcessLock } from '../adapters/process-lock/index.js';
import { OutboxLockedError } from './errors.js';

/** One agent per outbox: two would send the same changes twice and interleave their records. */
export function acquireOutboxLock(file: string): Promise<() => Promise<void>> {
  return acquireProcessLock(file, { what: 'the outbox', locked: (message) => new OutboxLockedError(message) });
}
