import { expect, it } from 'vitest';
import { rescanInterval } from '../../src/cli/commands/agent.js';

// Found by a review: a timer's delay is at most 2^31 - 1 ms, and Node takes a longer one for 1 ms, so an interval
// of 25 days (meant as "practically never") listed the whole tree again every millisecond.
it('--rescan-interval takes 0 or 10 s to 24 days, and refuses what a timer cannot wait', () => {
  expect(rescanInterval(undefined)).toBeUndefined();
  expect(rescanInterval('0')).toBe(0);
  expect(rescanInterval('10')).toBe(10_000);
  expect(rescanInterval('2147483')).toBe(2_147_483_000);
  for (const bad of ['9', '2147484', '2200000', '-5', '1.5', 'hour', '']) {
    expect(() => rescanInterval(bad), bad).toThrow('--rescan-interval must be a whole number of seconds');
  }
});
