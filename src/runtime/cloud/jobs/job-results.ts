import type { JournalEntry } from '../../../core/entry.js';
import { type Progress, progressOf } from '../../../core/jobs/job-execution.js';
import type { JobWriteResult } from '../../../core/jobs/job-peer.js';
import type { S3Objects } from './s3-objects.js';

const COUNTERS = ['copied', 'deleted', 'skipped', 'failed', 'held'] as const;

/**
 * How the replay workers tell a job's slice what its entries came to: one empty object per finished entry,
 * `<prefix>/jobs/<id>/results/<entry id>~<counter>~<bytes>`. The slice counts them into the job's record and
 * deletes them once that record is saved.
 */
export class JobResults {
  /** Counted into the job, not deleted yet (a later drain must not count them again). */
  private readonly counted = new Set<string>();

  constructor(
    private readonly s3: S3Objects,
    private readonly prefix: (job: string) => string,
  ) {}

  async record(entry: JournalEntry, result: JobWriteResult): Promise<void> {
    const progress = progressOf(result, entry);
    const counter = COUNTERS.find((c) => (progress.counts[c] ?? 0) > 0);
    if (!counter || !entry.job) return;
    await this.s3.put(`${this.prefix(entry.job)}results/${entry.id}~${counter}~${progress.bytes}`);
  }

  /** What was recorded since the last drain. */
  async drain(job: string): Promise<Progress> {
    const progress: Progress = { counts: {}, bytes: 0, finished: 0 };
    const root = `${this.prefix(job)}results/`;
    for await (const key of this.s3.keys(root)) {
      if (this.counted.has(key)) continue;
      const [, counter, bytes] = key.slice(root.length).split('~');
      if (!COUNTERS.includes(counter as (typeof COUNTERS)[number])) continue;
      const name = counter as (typeof COUNTERS)[number];
      progress.counts[name] = (progress.counts[name] ?? 0) + 1;
      progress.bytes += Number(bytes) || 0;
      // A held removal is still in the journal: its release or discard finishes it.
      if (name !== 'held') progress.finished += 1;
      this.counted.add(key);
    }
    return progress;
  }

  /** Deletes the markers counted so far (call once the job's record that counts them is saved). */
  async forgetCounted(): Promise<void> {
    const keys = [...this.counted];
    await this.s3.remove(keys);
    for (const key of keys) this.counted.delete(key);
  }
}
