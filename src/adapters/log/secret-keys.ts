/**
 * Field names that hold a secret. Secrets are never logged on purpose; a field of one of these names passed by
 * mistake (a request's headers, a config object, an error carrying options) is written as "***" by both loggers
 * (pino here, Powertools in the Lambda functions).
 */
export const SECRET_KEYS = ['password', 'token', 'adminToken', 'nodeTokens', 'authorization'] as const;

export const REDACTED = '***';

const SECRET = new Set<string>(SECRET_KEYS);

/**
 * Fields an AWS SDK service error copies from the service's answer that repeat the signed request: S3's
 * SignatureDoesNotMatch quotes the canonical request it computed, `x-amz-security-token` header included. Left out
 * of logged errors whatever their depth.
 */
const SIGNING_FIELDS = new Set([
  'CanonicalRequest',
  'CanonicalRequestBytes',
  'StringToSign',
  'StringToSignBytes',
  'SignatureProvided',
  'AWSAccessKeyId',
]);

/**
 * The same rule for a logger without redaction of its own: secret keys at any depth up to `depth`, in objects,
 * arrays and errors (see loggableError).
 */
export function redactSecrets(value: unknown, depth = 4): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (depth < 0) return TOO_DEEP; // not looked into, so not written either
  if (value instanceof Error) return loggableError(value, depth);
  if (Array.isArray(value)) return value.map((item) => redactSecrets(item, depth - 1));
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] = SECRET.has(key) ? REDACTED : redactSecrets(item, depth - 1);
  }
  return out;
}

/**
 * A copy of `error` fit for a log line: the same class, message and stack; its own fields with secret keys
 * written as "***" at any depth and the SDK's SIGNING_FIELDS left out; its cause and aggregated errors alike.
 * Loggers write every field an error carries, and errors carry what their thrower put there (request headers,
 * options, a service's answer).
 */
export function loggableError(error: Error, depth = 4): Error {
  // A plain Error, not one made from the original's prototype: some (DOMException, which undici rejects an aborted
  // request with) read name and message through getters that throw on any other object. The constructor is the
  // original's, so loggers still name its class.
  const copy = new Error(error.message) as Error & Record<string, unknown>;
  hidden(copy, 'name', error.name);
  hidden(copy, 'stack', error.stack);
  hidden(copy, 'constructor', error.constructor);
  for (const [key, item] of Object.entries(error)) {
    if (SIGNING_FIELDS.has(key)) continue;
    copy[key] = SECRET.has(key) ? REDACTED : redactSecrets(item, depth - 1);
  }
  if (Object.hasOwn(error, 'cause') && !Object.hasOwn(copy, 'cause')) {
    const cause = error.cause;
    hidden(
      copy,
      'cause',
      cause instanceof Error && depth > 0 ? loggableError(cause, depth - 1) : redactSecrets(cause, depth - 1),
    );
  }
  const errors = (error as { errors?: unknown }).errors;
  if (Array.isArray(errors) && !Object.entries(error).some(([key]) => key === 'errors')) {
    hidden(copy, 'errors', redactSecrets(errors, depth - 1));
  }
  return copy;
}

/** What stands for a value nested deeper than redactSecrets looks. */
const TOO_DEEP = '[nested too deep]';

/** An own property as the runtime defines message, stack and cause: not enumerable. */
function hidden(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, configurable: true, enumerable: false });
}
