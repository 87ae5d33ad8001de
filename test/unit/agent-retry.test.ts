import { describe, expect, it } from 'vitest';
import { backoffDelay, parseRetryAfter, retryDelay } from '../../src/agent/retry.js';

const policy = { baseDelayMs: 250, maxDelayMs: 8_000 };
const NOW = Date.parse('2030-06-01T12:00:00Z');

describe('retry policy', () => {
  it('doubles from the base, stops at the cap, and spreads ±20 % with the random draw', () => {
    const middle = () => 0.5; // factor 1
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffDelay(n, policy, middle))).toEqual([
      250, 500, 1_000, 2_000, 4_000, 8_000, 8_000, 8_000,
    ]);
    expect(backoffDelay(3, policy, () => 0)).toBe(800); // -20 %
    expect(backoffDelay(3, policy, () => 0.999_999)).toBe(1_200); // just under +20 %
    expect(backoffDelay(50, policy, () => 0.999_999)).toBe(9_600); // the cap, jittered, even far out
  });

  it('never waits less than Retry-After asks, spreads it by up to 20 %, and caps what a server may ask', () => {
    expect(retryDelay(1, policy, 5_000, () => 0)).toBe(5_000);
    expect(retryDelay(1, policy, 5_000, () => 0.5)).toBe(5_500);
    expect(retryDelay(7, policy, 1_000, () => 0.5)).toBe(8_000); // the backoff is longer: it wins
    expect(retryDelay(1, policy, undefined, () => 0.5)).toBe(250);
    expect(retryDelay(1, { ...policy, maxRetryAfterMs: 60_000 }, 86_400_000, () => 0)).toBe(60_000);
    expect(retryDelay(1, policy, 86_400_000, () => 0)).toBe(600_000); // default cap: 10 minutes
  });

  it('reads Retry-After as seconds or as an HTTP date, and ignores what is neither', () => {
    expect(parseRetryAfter('120', NOW)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', NOW)).toBe(0);
    expect(parseRetryAfter(new Date(NOW + 30_000).toUTCString(), NOW)).toBe(30_000);
    expect(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', NOW)).toBe(0); // in the past: now
    expect(parseRetryAfter(undefined, NOW)).toBeUndefined();
    expect(parseRetryAfter(null, NOW)).toBeUndefined();
    for (const junk of ['', '-1', '1.5', 'soon', '2030-01-01']) expect(parseRetryAfter(junk, NOW)).toBeUndefined();
  });
});
