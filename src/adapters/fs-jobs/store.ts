import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { JobRecordError } from '../../core/errors.js';
import type { Difference, Job } from '../../core/jobs/job.js';
import type { JobStore } from '../../core/jobs/job-store.js';
import { isStamp } from '../../core/stamp.js';
import { replaceFile } from '../durable-files/replace-file.js';

export const JOBS_DIR = 'jobs';

/**
 * Jobs on the local disk, beside the journal: `<root>/jobs/<id>/job.json` and `differences-<n>.json` (one JSON
 * document per line). Every file is replaced atomically (written under a temporary name, fsynced, renamed): a
 * crash leaves the previous version or the next, never half of one.
 */
export class FsJobStore implements JobStore {
  private readonly dir: string;

  constructor(root: string) {
    this.dir = join(root, JOBS_DIR);
  }

  async save(job: Job): Promise<void> {
    await this.write(job.id, 'job.json', `${JSON.stringify(job)}\n`);
  }

  async read(id: string): Promise<Job | undefined> {
    if (!isStamp(id)) return undefined;
    const file = join(this.dir, id, 'job.json');
    const text = await readFile(file, 'utf8').catch(missing);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as Job;
    } catch (error) {
      // Written atomically, so never torn by a crash: edited by hand, or the disk failed. Say which file.
      throw new JobRecordError(
        `${file} is not a job record (${(error as Error).message}): repair or remove that job's folder`,
      );
    }
  }

  async ids(): Promise<string[]> {
    const names = await readdir(this.dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [] as string[];
      throw error;
    });
    return names.filter(isStamp).sort().reverse();
  }

  async writeDifferences(id: string, index: number, items: readonly Difference[]): Promise<void> {
    await this.write(id, chunkName(index), items.map((item) => `${JSON.stringify(item)}\n`).join(''));
  }

  async readDifferences(id: string, index: number): Promise<Difference[]> {
    const text = await readFile(join(this.dir, id, chunkName(index)), 'utf8').catch(missing);
    if (!text) return [];
    return text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Difference);
  }

  async remove(id: string): Promise<void> {
    if (isStamp(id)) await rm(join(this.dir, id), { recursive: true, force: true });
  }

  private async write(id: string, name: string, text: string): Promise<void> {
    const folder = join(this.dir, id);
    await mkdir(folder, { recursive: true });
    // One writer per file (a job's own chunk): a fixed temporary name, hidden from listings.
    await replaceFile(join(folder, name), text, { sync: 'file', temporary: join(folder, `.${name}.tmp`) });
  }
}

function chunkName(index: number): string {
  return `differences-${String(index).padStart(6, '0')}.json`;
}

function missing(error: NodeJS.ErrnoException): undefined {
  if (error.code === 'ENOENT') return undefined;
  throw error;
}
