import { LimitExceededError } from '../core/errors.js';

export interface RateLimitOptions {
  /** Sustained requests per second per key; 0: no limit. */
  perSecond: number;
  /** Requests allowed at once above the sustained rate (the bucket's size). */
  burst: number;
  now?: () => number;
}

/**
 * A token bucket per key (a node's name): `burst` requests at once, then `perSecond`. In memory, per process: in
 * Lambda each instance has its own buckets, so API Gateway's throttling is the limit across instances there
 * (docs/security.md). Buckets of idle nodes are forgotten once full again, so memory follows the active nodes.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly now: () => number;

  constructor(private readonly options: RateLimitOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Takes one request from `key`'s bucket, or throws 429 RATE_LIMITED saying when one will be there. */
  take(key: string): void {
    const { perSecond, burst } = this.options;
    if (perSecond <= 0) return;
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * perSecond);
    bucket.at = now;
    if (bucket.tokens < 1) {
      this.buckets.set(key, bucket);
      const retryAfter = Math.ceil((1 - bucket.tokens) / perSecond);
      throw new LimitExceededError(
        'RATE_LIMITED',
        `more than ${perSecond} requests per second (burst ${burst}) from this node: retry after ${retryAfter} s`,
        retryAfter,
      );
    }
    bucket.tokens -= 1;
    this.buckets.set(key, bucket);
    if (this.buckets.size > 10_000) this.forgetFull(now);
  }

  private forgetFull(now: number): void {
    const { perSecond, burst } = this.options;
    for (const [key, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * perSecond >= burst) this.buckets.delete(key);
    }
  }
}
