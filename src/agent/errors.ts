import { RelayError } from '../core/errors.js';

/**
 * Failures of the node side. They extend RelayError so that they carry a stable `code` and the CLI reports them
 * as one line, like every other failure with a name.
 */

/** The relay answered 4xx: the request will never succeed as it is, so it is not retried. */
export class RelayRefusedError extends RelayError {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`${status} ${code}: ${message}`);
  }

  /** 401/403: the token is wrong or lacks the role. Fixing the configuration, not dropping the change, helps. */
  get isAuthorization(): boolean {
    return this.status === 401 || this.status === 403;
  }

  /** 3xx: the relay URL points somewhere else (http → https, say). Fixing the URL, not dropping the change, helps. */
  get isRedirect(): boolean {
    return this.status >= 300 && this.status < 400;
  }
}

/** The relay could not be reached, timed out or answered 5xx, on every attempt the retry policy allowed. */
export class RelayUnavailableError extends RelayError {
  readonly code = 'RELAY_UNAVAILABLE';
  constructor(
    message: string,
    readonly attempts: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The body produced more or fewer bytes than the change declared: the file changed while it was being read. */
export class BodyChangedError extends RelayError {
  readonly code = 'BODY_CHANGED';
}

/** An agent option is missing or invalid. */
export class AgentConfigError extends RelayError {
  readonly code = 'AGENT_CONFIG';
}

/** Another live agent already owns this outbox folder. */
export class OutboxLockedError extends RelayError {
  readonly code = 'OUTBOX_LOCKED';
}

/** The outbox log holds a record that cannot be read (not a torn last line, which is dropped). */
export class OutboxCorruptError extends RelayError {
  readonly code = 'OUTBOX_CORRUPT';
}
