import type { ReplayOutcome } from '../../core/peer.js';

/** Network failures that mean "the peer is not there right now", never "the change is wrong". */
const OFFLINE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_ABORTED',
]);

export function classifyNetworkError(error: unknown): ReplayOutcome | undefined {
  const code = (error as { code?: string }).code ?? (error as { cause?: { code?: string } }).cause?.code;
  if (code && OFFLINE_CODES.has(code)) return { kind: 'offline', reason: code, code };
  return undefined;
}

/**
 * Status classes shared by every WebDAV method; method-specific cases are decided by the caller first. The
 * status travels as a field (the replay policy reads it, never the reason text); `retryAfter` is the answer's
 * Retry-After header, honoured for 429 and 503 (RFC 9110 §10.2.3).
 */
export function classifyStatus(status: number, what: string, retryAfter?: string | string[]): ReplayOutcome {
  if (status >= 200 && status < 300) return { kind: 'applied' };
  const reason = `${what}: HTTP ${status}`;
  if (status === 401 || status === 403) return { kind: 'unauthorized', reason, status };
  // A redirect is the peer's address, not the change: every change would be refused alike, one by one.
  if (status >= 300 && status < 400) {
    return {
      kind: 'offline',
      reason: `${reason} (the peer redirects: set its url to where it redirects to, e.g. https://)`,
      status,
    };
  }
  // 423 Locked: someone holds a lock on the path for now (a user editing it on the peer); tried again, parked
  // only if it stays locked (the same rule as a 5xx answered for this change alone).
  if (status >= 500 || status === 408 || status === 429 || status === 423) {
    const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(retryAfter) : undefined;
    return { kind: 'offline', reason, status, ...(retryAfterMs !== undefined && { retryAfterMs }) };
  }
  return { kind: 'conflict', reason, status };
}

/** `Retry-After: <seconds>` or `Retry-After: <HTTP-date>` in milliseconds from now; undefined when absent or bad. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  if (/^\d{1,9}$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
