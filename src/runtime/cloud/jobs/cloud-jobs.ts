import type { Action, JournalEntry } from '../../../core/entry.js';
import { MalformedRequestError, NotFoundError, StateConflictError } from '../../../core/errors.js';
import { type Difference, type Job, type JobKind, type JobView, jobView } from '../../../core/jobs/job.js';
import {
  admitAllRemovals,
  entriesOfJob,
  type RemovalGate,
  redriveTouchedHolds,
} from '../../../core/jobs/job-entries.js';
import { type ExecutionEnd, JobExecution, type JobExecutionDeps } from '../../../core/jobs/job-execution.js';
import type { JobGate, JobWriteResult } from '../../../core/jobs/job-peer.js';
import { type JobRequest, jobWrites, planJob } from '../../../core/jobs/job-plan.js';
import type { JobPage } from '../../../core/jobs/job-runner.js';
import type { JobService } from '../../../core/jobs/job-service.js';
import { readDifferencePage } from '../../../core/jobs/job-store.js';
import type { JobScope } from '../../../core/jobs/scope.js';
import type { TreeReader } from '../../../core/jobs/tree.js';
import type { JournalStore } from '../../../core/journal.js';
import type { Logger } from '../../../core/logger.js';
import { isStamp, type StampClock, stampTime } from '../../../core/stamp.js';
import { JobLease } from './job-lease.js';
import { JobResults } from './job-results.js';
import { ResyncSlots } from './resync-slots.js';
import { S3JobStore } from './s3-job-store.js';
import type { S3Objects } from './s3-objects.js';
import { MARGIN_MS, TouchLogReader, TouchLogWriter } from './touch-log.js';
import { CloudTouchRecorder } from './touch-recorder.js';

/** A running marker without its job record this long after the job's stamp: its creation died half-way. */
const ORPHAN_MARKER_MS = 5 * 60_000;

export interface CloudJobsOptions {
  s3: S3Objects;
  /** The journal: job entries are written to it, counted in it and, when their job ends early, purged from it. */
  store: JournalStore;
  /** Rings the doorbell for new job entries. */
  ring: (entries: readonly JournalEntry[]) => Promise<void>;
  /**
   * Rings again for entries rung before (a held removal put back): with a fresh cause, or SQS would drop the
   * message as a duplicate of the first ring within its 5-minute window. Default: `ring`.
   */
  redrive?: (entries: readonly JournalEntry[]) => Promise<void>;
  readers: ReadonlyMap<string, TreeReader>;
  peers: readonly string[];
  scope: JobScope;
  clock: StampClock;
  logger: Logger;
  removals?: RemovalGate;
  now?: () => Date;
  /**
   * A new job starts comparing this long after it is created (default 3 s): by then every API process has
   * noticed it and records live changes for it (they look at most every `recorderCacheMs`).
   */
  armingMs?: number;
  /** Finished jobs kept (older ones are removed when a job is created; default 100, as embedded). */
  keepFinished?: number;
  recorderCacheMs?: number;
  /** How long a replay worker trusts what it read about a job (default 5 s). */
  gateCacheMs?: number;
  execution?: Pick<JobExecutionDeps, 'concurrency' | 'window' | 'checkpointMs' | 'scanMs'>;
  /** Told about every job a slice ran. */
  onSlice?: (job: JobView) => void;
}

/** What one run of the slices did. */
export interface SliceReport {
  /** Every job a slice looked at, as it stands after the slice. */
  jobs: JobView[];
  /** Of those, the jobs that ended during this run (DONE, FAILED or CANCELLED). */
  ended: JobView[];
}

/**
 * Cloud mode's jobs, with all their state in S3 so that any process can take the next step:
 * - the API creates, lists, shows and cancels them (JobService) and records live changes for running resyncs;
 * - the replay workers ask about job entries (JobGate) and leave a marker per finished entry;
 * - the ping function (or a loop in `vfs-relay serve`) runs them in slices of bounded time: walk, journal the
 *   writes, count the markers, save — then the next slice resumes from the saved record.
 */
export class CloudJobs implements JobService, JobGate {
  readonly jobs: S3JobStore;
  private readonly results: JobResults;
  private readonly touchLog: TouchLogWriter;
  private readonly lease: JobLease;
  private readonly now: () => Date;
  private readonly readers = new Map<string, TouchLogReader>();
  private readonly jobCache = new Map<string, { running: boolean; since: number; at: number }>();
  private readonly recorder: CloudTouchRecorder;
  /** One resync per peer across every API process (conditional writes in S3). */
  private readonly slots: ResyncSlots;
  private current: JobExecution | undefined;
  private stopped = false;

  constructor(private readonly options: CloudJobsOptions) {
    this.jobs = new S3JobStore(options.s3);
    this.results = new JobResults(options.s3, (id) => this.jobs.jobPrefix(id));
    this.touchLog = new TouchLogWriter(options.s3, options.clock);
    this.recorder = new CloudTouchRecorder(options.s3, options.clock, options.recorderCacheMs);
    this.slots = new ResyncSlots(options.s3, async (id) => {
      const job = await this.jobs.read(id);
      // No record yet: created a moment ago (marker and slot come first), or its creation died (then it is old).
      if (!job) return this.now().getTime() - stampTime(id).getTime() <= ORPHAN_MARKER_MS;
      return job.status === 'RUNNING';
    });
    this.lease = new JobLease(options.s3);
    this.now = options.now ?? (() => new Date());
  }

  // --- the API ---

  async create(kind: JobKind, peer: string, request: JobRequest): Promise<JobView> {
    const now = this.now();
    const job = planJob(kind, peer, request, {
      peers: this.options.peers,
      servers: [...this.options.readers.keys()],
      scope: this.options.scope,
      id: this.options.clock.next(),
      now,
      startsAt: new Date(now.getTime() + (this.options.armingMs ?? 3000)),
    });
    if (jobWrites(job)) {
      for (const running of await this.jobs.runningJobs()) {
        const other = running.writes ? await this.jobs.read(running.id) : undefined;
        if (other?.peer === peer && other.status === 'RUNNING') {
          throw new StateConflictError('JOB_RUNNING', `a resync of ${peer} is already running: wait or cancel it`);
        }
      }
    }
    // Two API processes creating a resync of one peer at once both pass the check above: the slot decides.
    if (jobWrites(job) && (await this.slots.take(peer, job.id)) !== undefined) {
      throw new StateConflictError('JOB_RUNNING', `a resync of ${peer} is already running: wait or cancel it`);
    }
    // The marker first: a crash between the two writes leaves a marker without a job, which a slice removes once it
    // is old (see slice), never a RUNNING job that no slice runs.
    try {
      await this.jobs.markRunning(job.id, jobWrites(job));
      await this.jobs.save(job);
    } catch (error) {
      if (jobWrites(job)) await this.slots.release(peer, job.id).catch(() => {});
      throw error;
    }
    this.recorder.forget();
    await this.prune().catch((error: unknown) =>
      this.options.logger.warn('could not remove old finished jobs', { error }),
    );
    return jobView(job);
  }

  /** Keeps the newest `keepFinished` finished jobs (records, differences, markers); running ones are never removed. */
  private async prune(): Promise<void> {
    const keep = this.options.keepFinished ?? 100;
    const running = new Set((await this.jobs.runningJobs()).map((r) => r.id));
    let finished = 0;
    for (const id of await this.jobs.ids()) {
      if (running.has(id)) continue;
      finished += 1;
      if (finished > keep) {
        await this.jobs.remove(id);
        this.jobCache.delete(id);
      }
    }
  }

  async get(id: string): Promise<JobView> {
    return this.view(await this.find(id));
  }

  async list(limit: number, cursor?: string): Promise<JobPage> {
    const ids = (await this.jobs.ids()).filter((id) => cursor === undefined || id < cursor);
    const items: JobView[] = [];
    for (const id of ids.slice(0, limit)) {
      const job = await this.jobs.read(id);
      if (job) items.push(await this.view(job));
    }
    return { items, next: ids.length > limit ? ids[limit - 1]! : null };
  }

  async differences(id: string, cursor: number, limit: number): Promise<{ items: Difference[]; next: string | null }> {
    return readDifferencePage(this.jobs, await this.find(id), cursor, limit);
  }

  async cancel(id: string): Promise<JobView> {
    const job = await this.find(id);
    if (job.status !== 'RUNNING' || (await this.jobs.cancelRequested(id))) {
      const status = job.status === 'RUNNING' ? 'CANCELLED' : job.status;
      throw new StateConflictError('JOB_NOT_RUNNING', `job ${id} is ${status}: only a running job can be cancelled`);
    }
    await this.jobs.requestCancel(id);
    this.jobCache.delete(id);
    return { ...jobView(job), status: 'CANCELLED' };
  }

  /** The intake reports a live change before journaling it: recorded while any writing resync runs. */
  async recordTouch(change: { action: Action; path: string; target?: string }): Promise<void> {
    await this.recorder.record(change);
  }

  // --- the replay workers ---

  async refuse(entry: JournalEntry): Promise<{ drop: boolean; reason: string } | undefined> {
    const state = await this.jobState(entry.job!);
    if (!state.running) return { drop: true, reason: 'its job is not running' };
    let reader = this.readers.get(entry.job!);
    if (!reader) {
      reader = new TouchLogReader(this.options.s3, state.since);
      this.readers.set(entry.job!, reader);
    }
    await reader.refresh();
    if (reader.touches(entry.path))
      return { drop: false, reason: 'a live change touched this path after the job started' };
    return undefined;
  }

  async record(entry: JournalEntry, result: JobWriteResult): Promise<void> {
    await this.results.record(entry, result);
  }

  // --- the slices ---

  /** True while some job runs (the `serve` loop polls this cheaply). */
  async anyRunning(): Promise<boolean> {
    return (await this.jobs.runningJobs()).length > 0;
  }

  /** Ends the slice in progress at its next folder (its progress saved) and runs no more: the process stops. */
  stop(): void {
    this.stopped = true;
    this.current?.stop();
  }

  /** Runs every running job until `deadline` (epoch ms), one slice each, oldest first. */
  async runSlices(deadline: number): Promise<SliceReport> {
    const report: SliceReport = { jobs: [], ended: [] };
    const running = (await this.jobs.runningJobs()).sort((a, b) => (a.id < b.id ? -1 : 1));
    for (const { id } of running) {
      if (Date.now() >= deadline || this.stopped) break;
      const sliced = await this.slice(id, deadline).catch((error: unknown) => {
        this.options.logger.error('job slice failed', { jobId: id, error });
        return undefined;
      });
      if (sliced) {
        report.jobs.push(sliced.view);
        if (sliced.ended) report.ended.push(sliced.view);
        this.options.onSlice?.(sliced.view);
      }
    }
    await this.removeOldTouches(running.length);
    return report;
  }

  private async slice(id: string, deadline: number): Promise<{ view: JobView; ended: boolean } | undefined> {
    const job = await this.jobs.read(id);
    if (!job) {
      // Its record is being written (the marker goes first), or the process creating it died in between.
      if (this.now().getTime() - stampTime(id).getTime() > ORPHAN_MARKER_MS) await this.jobs.unmarkRunning(id);
      return undefined;
    }
    if (job.status !== 'RUNNING') {
      await this.jobs.unmarkRunning(id);
      return undefined;
    }
    if (Date.parse(job.startedAt) > this.now().getTime()) return { view: jobView(job), ended: false }; // arming
    const lease = await this.lease.take(this.jobs.jobPrefix(id), deadline + 60_000);
    if (!lease) return { view: jobView(job), ended: false };
    try {
      const execution = this.execution(job);
      let end: ExecutionEnd | 'cancelled';
      if (await this.jobs.cancelRequested(id)) end = 'cancelled';
      else {
        const watch = this.watchCancel(id, execution);
        this.current = execution;
        try {
          end = await execution.run(deadline);
        } finally {
          this.current = undefined;
          watch.stop();
        }
        if (end === 'paused' && watch.cancelled) end = 'cancelled';
      }
      if (end === 'cancelled') await execution.finish('CANCELLED', null);
      const ended = execution.job.status !== 'RUNNING';
      if (ended) await this.ended(execution.job);
      return { view: jobView(execution.job), ended };
    } finally {
      await lease.release();
    }
  }

  private execution(job: Job): JobExecution {
    const touches = new TouchLogReader(this.options.s3, Date.parse(job.startedAt));
    return new JobExecution(job, {
      jobs: this.jobs,
      source: this.options.readers.get(job.from)!,
      peer: this.options.readers.get(job.peer)!,
      scope: this.options.scope,
      journal: async (entries) => {
        await this.options.store.create(entries);
        await this.options.ring(entries);
      },
      nextId: () => this.options.clock.next(),
      touches: jobWrites(job) ? touches : { refresh: async () => {}, touches: () => false },
      removals: this.options.removals ?? admitAllRemovals,
      outstanding: async () => {
        const entries = await this.entriesOf(job.id);
        if (jobWrites(job)) await this.redriveTouchedHolds(entries, touches);
        return entries.length;
      },
      drainProgress: () => this.results.drain(job.id),
      afterSave: () => this.results.forgetCounted(),
      logger: this.options.logger,
      now: this.options.now,
      scanMs: 30_000,
      ...this.options.execution,
    });
  }

  /** Stops the execution when an operator cancels the job meanwhile (checked every few seconds). */
  private watchCancel(id: string, execution: JobExecution): { stop: () => void; cancelled: boolean } {
    const watch = { cancelled: false, stop: () => clearInterval(timer) };
    const timer = setInterval(() => {
      void this.jobs.cancelRequested(id).then(
        (cancelled) => {
          if (!cancelled) return;
          watch.cancelled = true;
          execution.stop();
        },
        () => undefined,
      );
    }, 2000);
    return watch;
  }

  /** A job that ended: no longer listed as running, and its unreplayed writes dropped unless it is DONE. */
  private async ended(job: Job): Promise<void> {
    await this.jobs.unmarkRunning(job.id);
    if (jobWrites(job)) await this.slots.release(job.peer, job.id);
    this.recorder.forget();
    if (job.status === 'DONE') return;
    for (const entry of await this.entriesOf(job.id)) await this.options.store.purge(entry);
  }

  /**
   * The job's HELD removals whose path a live change touched go back to PENDING (redriveTouchedHolds): held, they
   * would keep that live change waiting until an operator acted. Checked when the slice counts what is left.
   */
  private async redriveTouchedHolds(entries: readonly JournalEntry[], touches: TouchLogReader): Promise<void> {
    const held = entries.filter((e) => e.status === 'HELD');
    if (held.length === 0) return;
    await touches.refresh();
    const { store, logger } = this.options;
    const ring = this.options.redrive ?? this.options.ring;
    await redriveTouchedHolds({ store, ring, logger }, held, (p) => touches.touches(p));
  }

  private entriesOf(id: string): Promise<JournalEntry[]> {
    return entriesOfJob(this.options.store, id);
  }

  /** Touches older than every running job's start (less the margin) are never read again. */
  private async removeOldTouches(runningJobs: number): Promise<void> {
    let before = Date.now() - 2 * MARGIN_MS;
    if (runningJobs > 0) {
      for (const { id, writes } of await this.jobs.runningJobs()) {
        const job = writes ? await this.jobs.read(id) : undefined;
        if (job) before = Math.min(before, Date.parse(job.startedAt) - 2 * MARGIN_MS);
      }
    }
    await this.touchLog.removeBefore(before).catch((error: unknown) => {
      this.options.logger.warn('could not remove old touches; the next slice tries again', { error });
    });
  }

  private async jobState(id: string): Promise<{ running: boolean; since: number }> {
    const cached = this.jobCache.get(id);
    if (cached && Date.now() - cached.at < (this.options.gateCacheMs ?? 5000)) return cached;
    const job = await this.jobs.read(id);
    const running = job?.status === 'RUNNING' && !(await this.jobs.cancelRequested(id));
    const state = { running, since: job ? Date.parse(job.startedAt) : 0, at: Date.now() };
    this.jobCache.set(id, state);
    return state;
  }

  private async find(id: string): Promise<Job> {
    if (!isStamp(id)) throw new MalformedRequestError('BAD_ID', `"${id}" is not a job id`);
    const job = await this.jobs.read(id);
    if (!job) throw new NotFoundError('JOB_NOT_FOUND', `no job ${id}`);
    return job;
  }

  /** A running job an operator cancelled reads CANCELLED at once; its next slice makes it so. */
  private async view(job: Job): Promise<JobView> {
    if (job.status === 'RUNNING' && (await this.jobs.cancelRequested(job.id))) {
      return { ...jobView(job), status: 'CANCELLED' };
    }
    return jobView(job);
  }
}
