/**
 * Domain failures. Each names what went wrong and carries a stable UPPER_SNAKE `code` that reaches API clients
 * unchanged; the HTTP status is chosen in one place (src/api/errors.ts) by `instanceof`, never by message.
 */
export abstract class RelayError extends Error {
  abstract readonly code: string;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Marks every RelayError, whichever copy of this module made it (see isRelayError). */
const RELAY_ERROR = Symbol.for('vfs-relay.RelayError');
Object.defineProperty(RelayError.prototype, RELAY_ERROR, { value: true });

/**
 * `instanceof RelayError` across copies of this module: the CLI's bundle (dist/cli/vfs-relay.cjs) carries its own,
 * and the commands it loads when they run use dist/core/errors.js.
 */
export function isRelayError(error: unknown): error is RelayError {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[RELAY_ERROR] === true;
}

/** The request is malformed: wrong shape, wrong type, bad id. */
export class MalformedRequestError extends RelayError {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A path is not absolute, not normalised, or carries characters we never replicate. */
export class BadPathError extends RelayError {
  readonly code = 'BAD_PATH';
}

/** A file change at or below `/.vfs-relay/`, which is reserved for configuration documents. */
export class ReservedPathError extends RelayError {
  readonly code = 'RESERVED_PATH';
}

/** A change that would create, replace, remove or rename a replicated VFS location itself. */
export class LocationRootError extends RelayError {
  readonly code = 'LOCATION_ROOT';
}

/** The named change (or peer) does not exist, or no longer exists because it was purged. */
export class NotFoundError extends RelayError {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The upload outlived `limits.uploadMaxLifetimeSeconds`: it is dropped (or being dropped), and sending its body again
 * cannot help. 410 UPLOAD_EXPIRED.
 */
export class UploadExpiredError extends RelayError {
  readonly code = 'UPLOAD_EXPIRED';
}

/** The request is well formed but clashes with the entry's state (commit twice, body missing, ...). */
export class StateConflictError extends RelayError {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Valid JSON, refused content: size or checksum mismatch, unsafe XML document, ... */
export class ContentRefusedError extends RelayError {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A body larger than allowed, or larger than the size the change declared. */
export class PayloadTooLargeError extends RelayError {
  readonly code = 'PAYLOAD_TOO_LARGE';
}

/** A client went over a limit (requests per second, unfinished uploads): it may try again after a while. */
export class LimitExceededError extends RelayError {
  constructor(
    readonly code: string,
    message: string,
    /** Seconds the client should wait (sent as Retry-After). */
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/** A config.XML that cannot be decoded: corrupt, oversized, DOCTYPE/entities, unknown action. */
export class EntryCodecError extends RelayError {
  readonly code = 'BAD_ENTRY';
}

/** A job's record on disk cannot be read (edited by hand, or the disk failed): the message names the file. */
export class JobRecordError extends RelayError {
  readonly code = 'JOB_RECORD_UNREADABLE';
}

/** Journal storage failed in a way the caller cannot fix by changing the request. */
export class JournalStorageError extends RelayError {
  readonly code = 'JOURNAL_UNAVAILABLE';
}

/**
 * The journal's copy of a body is no longer the one verified when the change was committed (replaced since, e.g.
 * through a presigned upload URL still valid): it is never replayed, the entry is FAILED.
 */
export class BodyChangedError extends RelayError {
  readonly code = 'BODY_CHANGED';
}
