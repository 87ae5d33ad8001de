import { describe, expect, it } from 'vitest';
import { progressLine, sample } from '../../src/cli/job-progress.js';
import { emptyCounts, type JobView } from '../../src/core/jobs/job.js';

function job(copied: number, bytesCopied: number): JobView {
  return {
    id: 'j',
    kind: 'resync',
    peer: 'server2',
    from: 'primary',
    path: '/',
    status: 'RUNNING',
    options: { checksum: false, delete: false, dryRun: false },
    counts: { ...emptyCounts(), scanned: 120, missing: 100, copied },
    bytes: { total: 100 * 1024 * 1024, copied: bytesCopied },
    startedAt: '',
    finishedAt: null,
    error: null,
  };
}

describe('progress line', () => {
  it('shows items and bytes done, rates since the first reading, and an ETA from the bytes left', () => {
    const first = sample(job(0, 0), 0);
    const later = job(40, 40 * 1024 * 1024);
    const line = progressLine(later, first, sample(later, 10_000));
    expect(line).toBe(
      'resync server2 <- primary  scanned 120  items 40/100  40.0 MiB/100.0 MiB  4.0 items/s  4.0 MiB/s  ETA 15s',
    );
  });

  it('has no ETA before anything moved', () => {
    const first = sample(job(0, 0), 0);
    expect(progressLine(job(0, 0), first, sample(job(0, 0), 500))).toMatch(/ETA \?$/);
  });
});
