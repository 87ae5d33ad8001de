/** How often and how patiently a request is repeated after a transient failure. */
export interface RetryPolicy {
  /** Attempts in all, the first included (at least 1; `Infinity` never gives up). */
  attempts: number;
  /** Wait before the second attempt; doubles for each further one. */
  baseDelayMs: number;
  /** Longest wait between two attempts that the client chooses itself. */
  maxDelayMs: number;
  /**
   * Longest wait a server may ask for with `Retry-After` (a larger value is cut to this, so that a wrong header
   * cannot park the agent for days). Default 10 minutes.
   */
  maxRetryAfterMs?: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 250, maxDelayMs: 8_000 };

const DEFAULT_MAX_RETRY_AFTER_MS = 10 * 60_000;

/** Time as the retry loops see it: injected in tests so that no test sleeps for real. */
export interface RetryClock {
  now(): number;
  /** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** A number in [0, 1) for the jitter. */
  random(): number;
}

export const systemClock: RetryClock = { now: () => Date.now(), sleep, random: Math.random };

/**
 * The wait after failed attempt `attempt` (1-based): exponential, capped, with ±20 % jitter so that many agents
 * cut off by the same outage do not come back in lockstep.
 */
export function backoffDelay(
  attempt: number,
  policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>,
  random: () => number = Math.random,
): number {
  const exponential = policy.baseDelayMs * 2 ** Math.max(0, attempt - 1);
  const capped = Math.min(policy.maxDelayMs, exponential);
  return Math.round(capped * (0.8 + random() * 0.4));
}

/**
 * The wait before attempt `attempt + 1`: the backoff, but never less than what the server asked for with
 * `Retry-After` (plus up to 20 % so that every throttled client does not return in the same instant), and never
 * more than `maxRetryAfterMs`.
 */
export function retryDelay(
  attempt: number,
  policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs' | 'maxRetryAfterMs'>,
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): number {
  const backoff = backoffDelay(attempt, policy, random);
  if (retryAfterMs === undefined) return backoff;
  const asked = Math.min(retryAfterMs, policy.maxRetryAfterMs ?? DEFAULT_MAX_RETRY_AFTER_MS);
  return Math.max(backoff, Math.round(asked * (1 + random() * 0.2)));
}

/**
 * `Retry-After` (RFC 9110 §10.2.3) in milliseconds from `now`: delay-seconds or an HTTP-date. Undefined when
 * absent or unreadable (the backoff alone then decides); a date in the past is 0.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Only the date forms HTTP allows: a bare number with other characters ("1.5", "-1") is not one.
  if (!/[a-z]/i.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
