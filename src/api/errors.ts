import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import {
  BadPathError,
  ContentRefusedError,
  EntryCodecError,
  LimitExceededError,
  LocationRootError,
  MalformedRequestError,
  NotFoundError,
  PayloadTooLargeError,
  RelayError,
  ReservedPathError,
  StateConflictError,
  UploadExpiredError,
} from '../core/errors.js';
import type { RequestBodies } from './request-body.js';

/** Raised by API code for failures that belong to HTTP itself (auth, content type). */
export class ApiError extends HTTPException {
  constructor(
    status: ContentfulStatusCode,
    readonly code: string,
    message: string,
  ) {
    super(status, { message });
    this.name = 'ApiError';
  }
}

const STATUS_BY_ERROR: [new (...args: never[]) => RelayError, ContentfulStatusCode][] = [
  [MalformedRequestError, 400],
  [BadPathError, 400],
  [ReservedPathError, 400],
  [LocationRootError, 400],
  [NotFoundError, 404],
  [UploadExpiredError, 410],
  [StateConflictError, 409],
  [PayloadTooLargeError, 413],
  [ContentRefusedError, 422],
  [EntryCodecError, 422],
  [LimitExceededError, 429],
];

const CODE_BY_HTTP_STATUS: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
};

export function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

/** A failure as its answer: status, JSON body, and the headers it adds (Retry-After). */
export interface ErrorAnswer {
  status: ContentfulStatusCode;
  body: ReturnType<typeof errorBody>;
  headers: Record<string, string>;
}

/** The one place where failures become responses: `{ "error": { "code", "message" } }`. */
export function toErrorResponse(
  error: unknown,
  c: Context,
  bodies: RequestBodies,
  log: (error: unknown) => void,
): Response {
  // A refused request whose body was not read: close rather than make the client wait for a drain.
  if (bodies.bodyUnread(c)) c.header('connection', 'close');
  const answer = errorAnswer(error, log);
  for (const [name, value] of Object.entries(answer.headers)) c.header(name, value);
  return c.json(answer.body, answer.status);
}

/**
 * What a failure answers, wherever it is written (the Hono app, or the Node server's own route for uploads:
 * runtime/node-upload-route.ts). Unknown errors go to `log` and are never echoed.
 */
export function errorAnswer(error: unknown, log: (error: unknown) => void): ErrorAnswer {
  if (error instanceof ApiError)
    return { status: error.status, body: errorBody(error.code, error.message), headers: {} };
  if (error instanceof RelayError) {
    const headers: Record<string, string> =
      error instanceof LimitExceededError
        ? { 'retry-after': String(Math.max(1, Math.ceil(error.retryAfterSeconds))) }
        : {};
    const status = STATUS_BY_ERROR.find(([type]) => error instanceof type)?.[1];
    if (status) return { status, body: errorBody(error.code, error.message), headers };
  }
  if (error instanceof HTTPException) {
    const status = error.status as ContentfulStatusCode;
    const malformedJson = status === 400 && /json/i.test(error.message);
    const code = malformedJson ? 'MALFORMED_JSON' : (CODE_BY_HTTP_STATUS[status] ?? 'HTTP_ERROR');
    return { status, body: errorBody(code, error.message || code), headers: {} };
  }
  log(error);
  // Never echo internal messages: they can carry file system paths or peer answers.
  return {
    status: 500,
    body: errorBody('INTERNAL', 'the relay failed to handle this request; see its log'),
    headers: {},
  };
}
