import type { Action } from '../../../core/entry.js';
import { touchesOf } from '../../../core/jobs/touch-set.js';
import type { StampClock } from '../../../core/stamp.js';
import { S3JobStore } from './s3-job-store.js';
import type { S3Objects } from './s3-objects.js';
import { TouchLogWriter } from './touch-log.js';

/**
 * Tells running resyncs about live changes (cloud mode): every process that takes changes — the api function,
 * `vfs-relay serve`, the edge — records each one in the touch log while a resync runs, before the change gets its
 * id. Which jobs run is read from their markers, at most every `cacheMs` (a new job waits longer than that before
 * it compares anything: CloudJobsOptions.armingMs).
 */
export class CloudTouchRecorder {
  private readonly jobs: S3JobStore;
  private readonly log: TouchLogWriter;
  private writing: { value: boolean; at: number } | undefined;

  constructor(
    s3: S3Objects,
    clock: StampClock,
    private readonly cacheMs = 2000,
  ) {
    this.jobs = new S3JobStore(s3);
    this.log = new TouchLogWriter(s3, clock);
  }

  async record(change: { action: Action; path: string; target?: string }): Promise<void> {
    if (!(await this.writingJobRunning())) return;
    await this.log.record(touchesOf(change));
  }

  /** A job started or ended in this process: look again at the next change. */
  forget(): void {
    this.writing = undefined;
  }

  private async writingJobRunning(): Promise<boolean> {
    const now = Date.now();
    if (this.writing && now - this.writing.at < this.cacheMs) return this.writing.value;
    const value = (await this.jobs.runningJobs()).some((r) => r.writes);
    this.writing = { value, at: now };
    return value;
  }
}
