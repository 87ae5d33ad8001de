import type { Doorbell } from '../doorbell.js';
import type { Action, JournalEntry } from '../entry.js';
import { MalformedRequestError, NotFoundError, StateConflictError } from '../errors.js';
import type { JournalStore } from '../journal.js';
import type { Logger } from '../logger.js';
import { pathsOverlap } from '../paths.js';
import { isStamp } from '../stamp.js';
import { type Difference, type Job, type JobKind, type JobView, jobView } from './job.js';
import { admitAllRemovals, entriesOfJob, type RemovalGate, redriveTouchedHolds } from './job-entries.js';
import { type ExecutionEnd, JobExecution, type JobExecutionDeps, progressOf } from './job-execution.js';
import type { JobGate, JobWriteResult } from './job-peer.js';
import { type JobRequest, planJob, jobWrites as writes } from './job-plan.js';
import type { JobService } from './job-service.js';
import { type JobStore, readDifferencePage } from './job-store.js';
import type { JobScope } from './scope.js';
import { TouchSet, touchesOf } from './touch-set.js';
import type { TreeReader } from './tree.js';

export interface JobRunnerDeps {
  jobs: JobStore;
  /** The journal: job entries are counted and, when their job ends early, purged from it. */
  store: JournalStore;
  doorbell: Doorbell;
  /** A reader for every source and every peer, by name. */
  readers: ReadonlyMap<string, TreeReader>;
  peers: readonly string[];
  scope: JobScope;
  nextId: () => string;
  logger: Logger;
  removals?: RemovalGate;
  now?: () => Date;
  execution?: Pick<JobExecutionDeps, 'concurrency' | 'window' | 'checkpointMs'>;
  /** Finished jobs kept (oldest removed first; default 100). */
  keepFinished?: number;
}

export type { JobRequest } from './job-plan.js';

/** Running or listed jobs, one page: `next` is the id to pass as `cursor` for the following page. */
export interface JobPage {
  items: JobView[];
  next: string | null;
}

interface Running {
  execution: JobExecution;
  /** Live changes since the job started (resync with writes only). */
  touches: TouchSet | undefined;
  /** Its entries the delete guard HELD (by the window when written, or by the folder rule at replay), by key. */
  held: Map<string, JournalEntry>;
  stopping: 'cancel' | 'close' | undefined;
  done: Promise<ExecutionEnd>;
  wake: () => void;
  woken: Promise<void>;
}

/**
 * The embedded relay's jobs: creates and runs them in this process, answers the API, and is the replayer's
 * JobGate and the intake's touch recorder. A resync that was writing when the relay stopped is not resumed: the
 * live changes it had to leave alone were only in memory, so it ends FAILED and its unreplayed entries are
 * dropped. A verify (or a dry run) resumes from its last checkpoint.
 */
export class JobRunner implements JobGate, JobService {
  private readonly running = new Map<string, Running>();
  /** Resyncs being saved before they run: live changes are recorded for them already (see create). */
  private readonly saving = new Map<string, { peer: string; path: string; touches: TouchSet }>();
  private readonly now: () => Date;

  constructor(private readonly deps: JobRunnerDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** At start-up: resume what can be resumed, fail the rest. */
  async start(): Promise<void> {
    for (const id of await this.deps.jobs.ids()) {
      // Created since this process started (its API may take requests already): not one a restart interrupted.
      if (this.running.has(id) || this.saving.has(id)) continue;
      const job = await this.deps.jobs.read(id);
      if (job?.status !== 'RUNNING') continue;
      if (writes(job)) {
        await this.dropEntries(job.id);
        await this.end(job, 'FAILED', 'the relay restarted during the job; run the resync again to finish it');
      } else {
        this.launch(job);
      }
    }
  }

  async create(kind: JobKind, peer: string, request: JobRequest): Promise<JobView> {
    const job = this.plan(kind, peer, request);
    const resyncing = [...this.running.values()].some((r) => r.execution.job.peer === peer && r.touches);
    if (writes(job) && (resyncing || [...this.saving.values()].some((s) => s.peer === peer))) {
      throw new StateConflictError('JOB_RUNNING', `a resync of ${peer} is already running: wait for it or cancel it`);
    }
    // A resync's touches start with the job, not once it is saved: a live change during the save counts too.
    const touches = writes(job) ? new TouchSet() : undefined;
    if (touches) this.saving.set(job.id, { peer, path: job.path, touches });
    try {
      await this.deps.jobs.save(job);
    } finally {
      this.saving.delete(job.id);
    }
    this.launch(job, touches);
    await this.prune();
    return jobView(job);
  }

  async get(id: string): Promise<JobView> {
    return jobView(await this.find(id));
  }

  async list(limit: number, cursor?: string): Promise<JobPage> {
    const ids = (await this.deps.jobs.ids()).filter((id) => cursor === undefined || id < cursor);
    const items: JobView[] = [];
    for (const id of ids.slice(0, limit)) {
      const job = this.running.get(id)?.execution.job ?? (await this.deps.jobs.read(id));
      if (job) items.push(jobView(job));
    }
    return { items, next: ids.length > limit ? ids[limit - 1]! : null };
  }

  async differences(id: string, cursor: number, limit: number): Promise<{ items: Difference[]; next: string | null }> {
    const job = await this.find(id);
    const running = this.running.get(id);
    // A running job's differences become readable at its checkpoints.
    const stored = running ? ((await this.deps.jobs.read(id)) ?? job) : job;
    return readDifferencePage(this.deps.jobs, stored, cursor, limit);
  }

  async cancel(id: string): Promise<JobView> {
    const job = await this.find(id);
    const running = this.running.get(id);
    if (!running || job.status !== 'RUNNING') {
      throw new StateConflictError(
        'JOB_NOT_RUNNING',
        `job ${id} is ${job.status}: only a running job can be cancelled`,
      );
    }
    running.stopping = 'cancel';
    running.execution.stop();
    running.wake();
    await running.done;
    await this.dropEntries(id);
    return jobView(running.execution.job);
  }

  /** The intake tells every running resync about a live change before it is journaled. */
  async recordTouch(change: { action: Action; path: string; target?: string }): Promise<void> {
    const resyncs = [
      ...[...this.running.values()].flatMap((r) =>
        r.touches ? [{ path: r.execution.job.path, touches: r.touches }] : [],
      ),
      ...this.saving.values(),
    ];
    for (const { path, touches } of resyncs) {
      for (const touch of touchesOf(change)) {
        if (pathsOverlap(touch.path, path)) touches.add(touch);
      }
    }
    await this.redriveTouchedHolds();
  }

  /** The running resyncs' HELD removals a live change has touched: see redriveTouchedHolds (job-entries.ts). */
  private async redriveTouchedHolds(): Promise<void> {
    const touched: JournalEntry[] = [];
    for (const running of this.running.values()) {
      const { touches } = running;
      if (running.held.size === 0 || !touches) continue;
      // As the job will judge them at replay (refuse): a makedir or mdtm of a folder touches that folder, not
      // what is in it, so it does not put back the removal of a file inside.
      for (const [key, entry] of running.held) {
        if (!touches.touches(entry.path)) continue;
        running.held.delete(key);
        touched.push(entry);
      }
    }
    await redriveTouchedHolds(this.journal(), touched, () => true);
  }

  /** What redriveTouchedHolds (job-entries.ts) writes to: the journal, its doorbell, the log. */
  private journal() {
    return {
      store: this.deps.store,
      ring: (e: readonly JournalEntry[]) => this.deps.doorbell.ring(e),
      logger: this.deps.logger,
    };
  }

  async refuse(entry: JournalEntry): Promise<{ drop: boolean; reason: string } | undefined> {
    const running = entry.job ? this.running.get(entry.job) : undefined;
    if (!running || running.stopping || running.execution.job.status !== 'RUNNING') {
      return { drop: true, reason: 'its job is not running' };
    }
    if (running.touches?.touches(entry.path)) {
      return { drop: false, reason: 'a live change touched this path after the job started' };
    }
    return undefined;
  }

  async record(entry: JournalEntry, result: JobWriteResult): Promise<void> {
    const running = entry.job ? this.running.get(entry.job) : undefined;
    if (!running) return;
    if (result.kind === 'held' && running.touches) running.held.set(`${entry.lane}/${entry.id}`, entry);
    running.execution.addProgress(progressOf(result, entry));
    running.wake();
  }

  /** Stops every job at its next folder and saves it (a resync then fails at the next start, see `start`). */
  async close(): Promise<void> {
    const all = [...this.running.values()];
    for (const running of all) {
      running.stopping = 'close';
      running.execution.stop();
      running.wake();
    }
    await Promise.allSettled(all.map((r) => r.done));
  }

  private plan(kind: JobKind, peer: string, request: JobRequest): Job {
    return planJob(kind, peer, request, {
      peers: this.deps.peers,
      servers: [...this.deps.readers.keys()],
      scope: this.deps.scope,
      id: this.deps.nextId(),
      now: this.now(),
    });
  }

  private launch(job: Job, touches = writes(job) ? new TouchSet() : undefined): void {
    let wake = () => {};
    const running: Running = {
      execution: undefined as unknown as JobExecution,
      touches,
      held: new Map(),
      stopping: undefined,
      done: Promise.resolve('paused'),
      wake: () => wake(),
      woken: Promise.resolve(),
    };
    const arm = () => {
      running.woken = new Promise<void>((resolve) => {
        wake = resolve;
      });
    };
    arm();
    running.execution = new JobExecution(job, {
      jobs: this.deps.jobs,
      source: this.deps.readers.get(job.from)!,
      peer: this.deps.readers.get(job.peer)!,
      scope: this.deps.scope,
      journal: async (entries) => {
        // Not durable: a crash fails the job and drops its entries anyway (see `start`), so they skip the
        // write-ahead log and the journal folders' files — most of a copy's cost on the relay's side.
        await this.deps.store.create(entries, { durable: false });
        for (const e of entries) if (e.status === 'HELD' && touches) running.held.set(`${e.lane}/${e.id}`, e);
        await this.deps.doorbell.ring(entries);
      },
      nextId: this.deps.nextId,
      touches: { refresh: async () => {}, touches: (path) => touches?.touches(path) ?? false },
      removals: this.deps.removals ?? admitAllRemovals,
      outstanding: () => this.outstanding(job.id),
      logger: this.deps.logger,
      now: this.deps.now,
      waitForProgress: async (ms) => {
        await Promise.race([running.woken, sleep(ms)]);
        arm();
      },
      ...this.deps.execution,
    });
    this.running.set(job.id, running);
    running.done = this.drive(running).finally(() => this.running.delete(job.id));
  }

  private async drive(running: Running): Promise<ExecutionEnd> {
    const { execution } = running;
    try {
      const end = await execution.run();
      if (end === 'paused' && running.stopping === 'cancel') await execution.finish('CANCELLED', null);
      // A job that failed (a listing or a read it could not do) leaves nothing behind: its removals HELD by the
      // delete guard would otherwise hold back live changes to their paths for good, with no job to release them.
      if (end === 'finished' && execution.job.status === 'FAILED' && writes(execution.job)) {
        running.stopping ??= 'close';
        await this.dropEntries(execution.job.id);
      }
      return end;
    } catch (error) {
      const { job } = execution;
      running.stopping ??= 'close'; // its writes are dropped from now on, not sent while they are being purged
      this.deps.logger.error('job stopped unexpectedly', { jobId: job.id, error });
      // Not left RUNNING with nothing running it: FAILED with the reason, its unreplayed writes dropped.
      const reason = `the job stopped unexpectedly: ${error instanceof Error ? error.message : String(error)}`;
      try {
        await this.end(job, 'FAILED', reason);
        if (writes(job)) await this.dropEntries(job.id);
      } catch (cause) {
        this.deps.logger.error('could not record the job as FAILED; the next start does', { jobId: job.id, cause });
      }
      return 'paused';
    }
  }

  private async find(id: string): Promise<Job> {
    if (!isStamp(id)) throw new MalformedRequestError('BAD_ID', `"${id}" is not a job id`);
    const job = this.running.get(id)?.execution.job ?? (await this.deps.jobs.read(id));
    if (!job) throw new NotFoundError('JOB_NOT_FOUND', `no job ${id}`);
    return job;
  }

  private async end(job: Job, status: 'FAILED', error: string): Promise<void> {
    const now = this.now().toISOString();
    await this.deps.jobs.save({ ...job, status, error, finishedAt: now, updatedAt: now });
    this.deps.logger.warn('job ended', { jobId: job.id, status, error });
  }

  /**
   * The job's entries still in the journal. Its HELD ones whose path a live change touched go back to PENDING
   * (redriveTouchedHolds, for a touch that came while the replay was still holding one).
   */
  private async outstanding(id: string): Promise<number> {
    const entries = await this.entriesOf(id);
    const touches = this.running.get(id)?.touches;
    if (touches) {
      await redriveTouchedHolds(
        this.journal(),
        entries.filter((e) => e.status === 'HELD'),
        (path) => touches.touches(path),
      );
    }
    return entries.length;
  }

  private entriesOf(id: string): Promise<JournalEntry[]> {
    return entriesOfJob(this.deps.store, id);
  }

  /** Removes a stopped job's entries that have not replayed (the replay would drop them anyway). */
  private async dropEntries(id: string): Promise<void> {
    const entries = await this.entriesOf(id);
    for (const entry of entries) await this.deps.store.purge(entry);
    if (entries.length > 0) await this.deps.doorbell.ring(entries);
  }

  private async prune(): Promise<void> {
    const keep = this.deps.keepFinished ?? 100;
    const ids = await this.deps.jobs.ids();
    let finished = 0;
    for (const id of ids) {
      if (this.running.has(id)) continue;
      finished += 1;
      if (finished > keep) await this.deps.jobs.remove(id);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
