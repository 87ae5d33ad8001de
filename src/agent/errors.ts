import { RelayError } from '../core/errors.js';

/**
 * Failures of the node side. They extend RelayError so that they carry a stable `code` and the CLI reports them
 * as one line, like every other failure with a name.
 */

/**
 * The relay answered 3xx or 4xx (other than 408 and 429, which are retried). Whether the change itself is refused
 * for good is decided by the code (see refusals.ts); the client itself never repeats such a request.
 */
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

/**
 * The relay could not be reached, timed out, or answered 408, 429 or 5xx, on every attempt the retry policy
 * allowed. Nothing is wrong with the request: send it again later.
 */
export class RelayUnavailableError extends RelayError {
  readonly code = 'RELAY_UNAVAILABLE';
  constructor(
    message: string,
    readonly attempts: number,
    options?: ErrorOptions & {
      /** The HTTP status of the last answer (none: no answer at all). */
      status?: number;
      /** How long the last answer asked to wait (`Retry-After`), in milliseconds. */
      retryAfterMs?: number;
    },
  ) {
    super(message, options);
    this.status = options?.status;
    this.retryAfterMs = options?.retryAfterMs;
  }

  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;

  /** 408/429: the relay is up but throttling or too busy to read the request in time. */
  get isThrottled(): boolean {
    return this.status === 408 || this.status === 429;
  }
}

/**
 * A presigned upload URL (cloud mode: the bucket, not the relay) answered 403 on every round of an upload, each
 * with a fresh change and URL: the URLs expire before the body goes (the relay's clock, or a very slow start), or
 * the bucket's policy refuses them. Nothing is wrong with the change: send it again later.
 */
export class UploadUrlRefusedError extends RelayError {
  readonly code = 'UPLOAD_URL_REFUSED';
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
