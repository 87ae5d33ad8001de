import { RelayRefusedError } from './errors.js';

/**
 * The answers by which the relay refuses a change itself: sent again as it is, it can never succeed, so the agent
 * sets it aside (refused.jsonl) instead of holding everything behind it. Anything not listed here is not taken
 * for a verdict on the change, and the change stays queued:
 * - 408, 429, 5xx and network errors: the relay is busy or away (retried by the client, then by the sender);
 * - 401/403 and 3xx: the agent's configuration is wrong (sending stops until it is fixed);
 * - 422 SIZE_MISMATCH / CHECKSUM_MISMATCH: the file changed while it was sent (read and sent again);
 * - 410 UPLOAD_EXPIRED is one: the upload took longer than the relay lets one stay open;
 * - 404 CHANGE_NOT_FOUND, 409 BODY_MISSING / ALREADY_COMMITTED: the relay restarted or an answer was lost
 *   during an upload (the client starts it over);
 * - any other 4xx (MALFORMED_JSON, 415, a code this agent does not know): retried with backoff and logged at
 *   error level, because dropping a change on an answer nobody understood would lose it silently.
 */
const DEFINITE: Record<number, ReadonlySet<string> | 'any'> = {
  400: new Set([
    'BAD_PATH', // not absolute or normalised, control characters, a name too long
    'RESERVED_PATH', // at or below /.vfs-relay/, kept for configuration documents
    'LOCATION_ROOT', // creates, replaces or removes a replicated location itself
    'BAD_REQUEST', // a field the change carries is invalid (a --user with control characters, say)
  ]),
  // An upload that outlived the relay's limits.uploadMaxLifetimeSeconds: sent again at the same rate, it would again.
  410: new Set(['UPLOAD_EXPIRED']),
  // Larger than the relay takes (maxUploadBytes, or a proxy's limit): whatever the code, the same bytes never fit.
  413: 'any',
  422: new Set([
    'BAD_RENAME', // onto itself, into itself, onto its own parent
    'RENAME_ACROSS_LOCATIONS', // a rename the sender did not turn into a delete and an upload
    'BAD_DOCUMENT', // a configuration document that is not valid XML or JSON
    'EMPTY_DOCUMENT',
    'UNSAFE_DOCUMENT', // DOCTYPE or entities in a configuration document
    'BAD_ENTRY',
  ]),
};

/** Whether `error` is the relay's definite refusal of the change (see DEFINITE). */
export function isDefiniteRefusal(error: unknown): error is RelayRefusedError {
  if (!(error instanceof RelayRefusedError)) return false;
  const codes = DEFINITE[error.status];
  return codes === 'any' || (codes?.has(error.code) ?? false);
}
