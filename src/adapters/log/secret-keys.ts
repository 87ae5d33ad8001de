/**
 * Field names that hold a secret. Secrets are never logged on purpose; a field of one of these names passed by
 * mistake (a request's headers, a config object, an error carrying options) is written as "***" by both loggers
 * (pino here, Powertools in the Lambda functions).
 */
export const SECRET_KEYS = ['password', 'token', 'adminToken', 'nodeTokens', 'authorization'] as const;

export const REDACTED = '***';

/** The same rule for a logger without redaction of its own: secret keys at any depth up to `depth`. */
export function redactSecrets(value: unknown, depth = 3): unknown {
  if (depth < 0 || typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Error) {
    return value;
  }
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] = (SECRET_KEYS as readonly string[]).includes(key) ? REDACTED : redactSecrets(item, depth - 1);
  }
  return out;
}
