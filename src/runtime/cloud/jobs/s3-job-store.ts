import type { Difference, Job } from '../../../core/jobs/job.js';
import type { JobStore } from '../../../core/jobs/job-store.js';
import { isStamp } from '../../../core/stamp.js';
import type { S3Objects } from './s3-objects.js';

/**
 * Jobs in S3 beside the journal: `<prefix>/jobs/<id>/job.json` and `differences-<n>.json` (one JSON object per
 * line), as on disk. Plus two kinds of marker the cloud processes share: `<prefix>/jobs-running/<id>.<w|r>` for
 * every running job (`w`: a resync that writes, whose live changes the API must record), and
 * `<prefix>/jobs/<id>/cancel` when an operator cancelled it (the next slice ends it).
 */
export class S3JobStore implements JobStore {
  private readonly jobs: string;
  readonly running: string;

  constructor(private readonly s3: S3Objects) {
    this.jobs = `${s3.root}jobs/`;
    this.running = `${s3.root}jobs-running/`;
  }

  async save(job: Job): Promise<void> {
    await this.s3.put(`${this.jobs}${job.id}/job.json`, JSON.stringify(job), 'application/json');
  }

  async read(id: string): Promise<Job | undefined> {
    if (!isStamp(id)) return undefined;
    const text = await this.s3.getText(`${this.jobs}${id}/job.json`);
    return text === undefined ? undefined : (JSON.parse(text) as Job);
  }

  async ids(): Promise<string[]> {
    return (await this.s3.folders(this.jobs)).filter(isStamp).sort().reverse();
  }

  async writeDifferences(id: string, index: number, items: readonly Difference[]): Promise<void> {
    const text = items.map((item) => `${JSON.stringify(item)}\n`).join('');
    await this.s3.put(`${this.jobs}${id}/${chunkName(index)}`, text, 'application/x-ndjson');
  }

  async readDifferences(id: string, index: number): Promise<Difference[]> {
    const text = await this.s3.getText(`${this.jobs}${id}/${chunkName(index)}`);
    if (!text) return [];
    return text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Difference);
  }

  async remove(id: string): Promise<void> {
    if (!isStamp(id)) return;
    const keys: string[] = [];
    for await (const key of this.s3.keys(`${this.jobs}${id}/`)) keys.push(key);
    await this.s3.remove(keys);
  }

  /** Results markers and the cancel marker live under the job's own prefix. */
  jobPrefix(id: string): string {
    return `${this.jobs}${id}/`;
  }

  async markRunning(id: string, writes: boolean): Promise<void> {
    await this.s3.put(`${this.running}${id}.${writes ? 'w' : 'r'}`);
  }

  async unmarkRunning(id: string): Promise<void> {
    await this.s3.remove([`${this.running}${id}.w`, `${this.running}${id}.r`]);
  }

  /** Running jobs: id and whether it writes. */
  async runningJobs(): Promise<{ id: string; writes: boolean }[]> {
    const out: { id: string; writes: boolean }[] = [];
    for await (const key of this.s3.keys(this.running)) {
      const name = key.slice(this.running.length);
      const id = name.slice(0, -2);
      if (isStamp(id) && (name.endsWith('.w') || name.endsWith('.r'))) out.push({ id, writes: name.endsWith('.w') });
    }
    return out;
  }

  async requestCancel(id: string): Promise<void> {
    await this.s3.put(`${this.jobs}${id}/cancel`);
  }

  async cancelRequested(id: string): Promise<boolean> {
    return (await this.s3.getText(`${this.jobs}${id}/cancel`)) !== undefined;
  }
}

function chunkName(index: number): string {
  return `differences-${String(index).padStart(6, '0')}.json`;
}
