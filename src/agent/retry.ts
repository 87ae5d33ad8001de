/** How often and how patiently a request is repeated after a transient failure. */
export interface RetryPolicy {
  /** Attempts in all, the first included (at least 1). */
  attempts: number;
  /** Wait before the second attempt; doubles for each further one. */
  baseDelayMs: number;
  /** Longest wait between two attempts. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 250, maxDelayMs: 8_000 };

/**
 * The wait after failed attempt `attempt` (1-based): exponential, capped, with ±20 % jitter so that many agents
 * cut off by the same outage do not come back in lockstep.
 */
export function backoffDelay(attempt: number, policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>): number {
  const exponential = policy.baseDelayMs * 2 ** Math.max(0, attempt - 1);
  const capped = Math.min(policy.maxDelayMs, exponential);
  return Math.round(capped * (0.8 + Math.random() * 0.4));
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
