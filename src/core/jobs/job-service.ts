import type { Difference, JobKind, JobView } from './job.js';
import type { JobPage, JobRequest } from './job-runner.js';

/** What the API asks of jobs; the embedded JobRunner and the cloud jobs both answer it. */
export interface JobService {
  create(kind: JobKind, peer: string, request: JobRequest): Promise<JobView>;
  get(id: string): Promise<JobView>;
  /** Newest first. */
  list(limit: number, cursor?: string): Promise<JobPage>;
  differences(id: string, cursor: number, limit: number): Promise<{ items: Difference[]; next: string | null }>;
  cancel(id: string): Promise<JobView>;
}
