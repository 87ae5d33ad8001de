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
  if (code && OFFLINE_CODES.has(code)) return { kind: 'offline', reason: code };
  return undefined;
}

/** Status classes shared by every WebDAV method; method-specific cases are decided by the caller first. */
export function classifyStatus(status: number, what: string): ReplayOutcome {
  if (status >= 200 && status < 300) return { kind: 'applied' };
  if (status === 401 || status === 403) return { kind: 'unauthorized', reason: `${what}: HTTP ${status}` };
  if (status >= 500 || status === 408 || status === 429) return { kind: 'offline', reason: `${what}: HTTP ${status}` };
  return { kind: 'conflict', reason: `${what}: HTTP ${status}` };
}
