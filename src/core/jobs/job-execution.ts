import type { JournalEntry } from '../entry.js';
import { RelayError } from '../errors.js';
import type { Logger } from '../logger.js';
import { compareFolder, type FolderResult } from './compare.js';
import { addCounts, type Job, type JobCounts, type PendingFolder } from './job.js';
import { jobEntry, type RemovalGate } from './job-entries.js';
import type { JobWriteResult } from './job-peer.js';
import { DifferenceLog, type JobStore } from './job-store.js';
import type { JobScope } from './scope.js';
import { JobInputError, TreeReadError, type TreeReader } from './tree.js';

/** The live changes a job must not undo, as far as they are known (see TouchSet). */
export interface JobTouches {
  /** Brings the view up to date (cloud: reads the touch log); a no-op where it is always current. */
  refresh(): Promise<void>;
  touches(path: string): boolean;
}

export interface JobExecutionDeps {
  jobs: JobStore;
  /** The job's `from`. */
  source: TreeReader;
  /** The job's peer. */
  peer: TreeReader;
  scope: JobScope;
  /** Journals a job's entries durably and rings the doorbell. */
  journal: (entries: JournalEntry[]) => Promise<void>;
  /** Stamps for job entries: the intake's clock, so that they sort among live changes. */
  nextId: () => string;
  touches: JobTouches;
  removals: RemovalGate;
  /** The job's entries still in the journal (a scan: catches entries an operator skipped). */
  outstanding: () => Promise<number>;
  /** Replay results recorded elsewhere (cloud: markers in S3) since the last call; the embedded runner pushes. */
  drainProgress?: () => Promise<Progress>;
  logger: Logger;
  now?: () => Date;
  /** Folders listed at once (default 4). */
  concurrency?: number;
  /** Job entries in the journal at most before the walk waits for the replay (default 256). */
  window?: number;
  /** How often the job's record is saved while it runs (default 2 s). */
  checkpointMs?: number;
  /** Waits for replay progress, at most `ms` (embedded: woken by pushed progress). */
  waitForProgress?: (ms: number) => Promise<void>;
  /** How often, while waiting for the replay, the journal is scanned for the job's entries (default 5 s). */
  scanMs?: number;
  /** After every save (cloud: removes the progress markers the save now counts). */
  afterSave?: () => Promise<void>;
}

/** Replay-side results for a job: counts and bytes written. */
export interface Progress {
  counts: Partial<JobCounts>;
  bytes: number;
  finished: number;
}

export function progressOf(result: JobWriteResult, entry: JournalEntry): Progress {
  if (result.kind === 'written') {
    const key = entry.action === 'delete' ? 'deleted' : 'copied';
    return { counts: { [key]: 1 }, bytes: result.bytes, finished: 1 };
  }
  if (result.kind === 'retry') return { counts: {}, bytes: 0, finished: 0 };
  // Still in the journal (HELD): counted, not finished; its release or discard finishes it.
  if (result.kind === 'held') return { counts: { held: 1 }, bytes: 0, finished: 0 };
  return { counts: { [result.kind]: 1 }, bytes: 0, finished: 1 };
}

/** A folder listing failed this many times in a row: the job ends FAILED. */
const READ_ATTEMPTS = 3;

export type ExecutionEnd = 'finished' | 'paused';

/**
 * Runs one job: walks source and peer folder by folder (a depth-first stack, `concurrency` folders at once),
 * stores the differences as it finds them, and for a resync journals the writes into the peer's lane — at most
 * `window` unfinished at a time, so that neither the journal nor memory grows with the tree. The job's record is
 * saved every `checkpointMs`: a restart (or the next cloud slice) resumes from the folders not walked yet.
 */
/** Names the relay cannot replicate are logged one by one up to this many per job run; the count has them all. */
const UNSUPPORTED_LOGGED = 100;

export class JobExecution {
  private readonly stack: PendingFolder[];
  private readonly inFlight = new Map<string, PendingFolder>();
  private log: DifferenceLog | undefined;
  private applying: Promise<void> = Promise.resolve();
  private saving: Promise<void> = Promise.resolve();
  private lastCheckpoint = 0;
  private unsupportedLogged = 0;
  private lastScan = 0;
  private stopped = false;
  /** Aborts the reads in flight when the job is stopped. */
  private readonly abort = new AbortController();
  private readonly now: () => Date;

  constructor(
    readonly job: Job,
    private readonly deps: JobExecutionDeps,
  ) {
    this.now = deps.now ?? (() => new Date());
    this.stack = [...job.pending];
  }

  /** Stops walking at the next folder (cancel, shutdown); `run` then returns 'paused'. */
  stop(): void {
    this.stopped = true;
    this.abort.abort();
  }

  /** Counts replay results into the job (embedded: called by the job gate as they happen). */
  addProgress(progress: Progress): void {
    addCounts(this.job.counts, progress.counts);
    this.job.bytes.copied += progress.bytes;
    this.job.entriesFinished += progress.finished;
  }

  /**
   * Runs until the job is done, `deadline` (epoch ms) passes, or `stop` is called. 'finished' means the job's
   * status is final (DONE or FAILED) and saved; 'paused' that its progress is saved and it can be run again.
   */
  async run(deadline = Number.POSITIVE_INFINITY): Promise<ExecutionEnd> {
    const { job } = this;
    if (job.status !== 'RUNNING') return 'finished';
    this.lastCheckpoint = Date.now();
    try {
      this.log ??= await DifferenceLog.open(this.deps.jobs, job.id, job.differences);
      if (!job.walked && !(await this.walk(deadline))) return await this.pause();
      job.walked = true;
      if (this.writes() && !(await this.drained(deadline))) return await this.pause();
      await this.finish('DONE', null);
      return 'finished';
    } catch (error) {
      if (this.stopped) return await this.pause(); // a read cut short by stop(): the folder stays pending
      const reason = error instanceof RelayError ? error.message : `the job failed: ${(error as Error).message}`;
      this.deps.logger.error('job failed', { jobId: job.id, peer: job.peer, error });
      await this.finish('FAILED', reason);
      return 'finished';
    }
  }

  /** Marks the job final and saves it. It reads final only once saved, with all its differences. */
  async finish(status: 'DONE' | 'FAILED' | 'CANCELLED', error: string | null): Promise<void> {
    await this.absorbProgress();
    const finishedAt = this.now().toISOString();
    await this.save({ status, error, finishedAt });
    Object.assign(this.job, { status, error, finishedAt });
    this.deps.logger.info('job finished', { jobId: this.job.id, kind: this.job.kind, status, ...this.job.counts });
  }

  /** Saves the job's record (and the differences found so far) as it stands now, with `changes` on top. */
  async save(changes: Partial<Job> = {}): Promise<void> {
    const snapshot: Job = {
      ...this.job,
      counts: { ...this.job.counts },
      bytes: { ...this.job.bytes },
      pending: [...this.inFlight.values(), ...this.stack],
      differences: this.log?.appended ?? this.job.differences,
      updatedAt: this.now().toISOString(),
      ...changes,
    };
    // One save at a time: a slow earlier save must not land after a later one.
    this.saving = this.saving
      .catch(() => undefined)
      .then(async () => {
        await this.log?.flush();
        await this.deps.jobs.save(snapshot);
        await this.deps.afterSave?.();
      });
    await this.saving;
    this.job.differences = Math.max(this.job.differences, snapshot.differences);
    this.lastCheckpoint = Date.now();
  }

  private writes(): boolean {
    return this.job.kind === 'resync' && !this.job.options.dryRun;
  }

  private async pause(): Promise<ExecutionEnd> {
    await this.applying;
    await this.absorbProgress();
    await this.save();
    return 'paused';
  }

  /** True when every folder is walked; false when stopped or out of time (in-flight folders are finished). */
  private async walk(deadline: number): Promise<boolean> {
    const concurrency = this.deps.concurrency ?? 4;
    const running = new Set<Promise<void>>();
    let failure: unknown;
    while (failure === undefined) {
      while (!this.stopped && Date.now() < deadline && running.size < concurrency && this.stack.length > 0) {
        const folder = this.stack.pop()!;
        this.inFlight.set(folder.path, folder);
        const task: Promise<void> = this.visit(folder)
          .catch((error: unknown) => {
            failure ??= error;
          })
          .finally(() => running.delete(task));
        running.add(task);
      }
      if (running.size === 0) break;
      // Wake up at checkpoint time too: one slow folder must not keep the progress made elsewhere unsaved.
      const checkpointMs = this.deps.checkpointMs ?? 2000;
      await raceTimeout(running, Math.max(10, this.lastCheckpoint + checkpointMs - Date.now()));
      if (Date.now() - this.lastCheckpoint >= checkpointMs) await this.checkpoint();
    }
    await Promise.allSettled(running);
    await this.applying;
    if (failure !== undefined) throw failure;
    return this.stack.length === 0 && this.inFlight.size === 0;
  }

  private async checkpoint(): Promise<void> {
    await this.absorbProgress();
    await this.save();
  }

  private async visit(folder: PendingFolder): Promise<void> {
    const [source, peer] = await Promise.all([
      this.read(() => this.deps.source.list(folder.path, this.abort.signal)),
      folder.peerAbsent
        ? Promise.resolve(undefined)
        : this.read(() => this.deps.peer.list(folder.path, this.abort.signal)),
    ]);
    const root = folder.path === this.job.path;
    if (!source && root) throw new JobInputError(`${folder.path} is not a folder on ${this.job.from}`);
    if (!source) {
      // Gone from the source since its parent was listed: nothing to compare it with now.
      this.deps.logger.info('folder vanished from the source during the job', {
        jobId: this.job.id,
        path: folder.path,
      });
      this.applying = this.applying.then(() => this.complete(folder, undefined));
      return this.applying;
    }
    const result = await compareFolder(folder, source, peer, {
      ...this.job.options,
      scope: this.deps.scope,
      checksums: (path) => this.checksums(path),
    });
    if (root && !peer && !folder.peerAbsent && this.deps.scope.of(folder.path) === 'in') missingRoot(result);
    // Results are applied one at a time, in the order folders finish: the record stays consistent.
    this.applying = this.applying.then(() => this.complete(folder, result));
    return this.applying;
  }

  private async complete(folder: PendingFolder, result: FolderResult | undefined): Promise<void> {
    if (result) {
      if (this.writes()) await this.journal(result);
      this.log!.append(result.differences);
      addCounts(this.job.counts, result.counts);
      for (const path of result.unsupported.slice(0, Math.max(0, UNSUPPORTED_LOGGED - this.unsupportedLogged))) {
        this.unsupportedLogged += 1;
        this.deps.logger.warn('a name the relay cannot replicate: not compared', { jobId: this.job.id, path });
      }
      this.job.bytes.total += result.bytes;
      // Depth first, names in order: the stack stays as short as the tree is deep (times its fan-out).
      for (let i = result.children.length - 1; i >= 0; i--) this.stack.push(result.children[i]!);
    }
    this.inFlight.delete(folder.path);
  }

  private async journal(result: FolderResult): Promise<void> {
    if (result.writes.length === 0) return;
    await this.deps.touches.refresh();
    const entries: JournalEntry[] = [];
    const removals: JournalEntry[] = [];
    const createdAt = this.now().toISOString();
    let skipped = 0;
    for (const write of result.writes) {
      if (this.deps.touches.touches(write.path)) {
        skipped += 1;
        continue;
      }
      const entry = jobEntry(this.job, write, this.deps.scope, this.deps.nextId(), createdAt);
      if (!entry) continue;
      if (write.op === 'delete') removals.push(entry);
      else entries.push(entry);
    }
    this.job.counts.skipped += skipped;
    const admitted = await this.deps.removals.admit(this.job, removals);
    const all = [...admitted, ...entries].sort((a, b) => (a.id < b.id ? -1 : 1));
    if (all.length === 0) return;
    await this.waitForRoom(all.length);
    await this.deps.journal(all);
    this.job.entriesWritten += all.length;
  }

  /** Waits while the job has `window` entries or more in the journal. */
  private async waitForRoom(adding: number): Promise<void> {
    const window = this.deps.window ?? 256;
    while (!this.stopped && this.job.entriesWritten - this.job.entriesFinished + adding > window) {
      if (this.job.entriesWritten - this.job.entriesFinished <= 0) return;
      await this.waitAndRecount();
    }
  }

  /** True once every entry the job wrote has left the journal; false when stopped or out of time. */
  private async drained(deadline: number): Promise<boolean> {
    for (;;) {
      await this.absorbProgress();
      if (
        this.job.entriesWritten - this.job.entriesFinished <= 0 ||
        Date.now() - this.lastScan >= (this.deps.scanMs ?? 5000)
      ) {
        this.lastScan = Date.now();
        if ((await this.deps.outstanding()) === 0) return true;
      }
      if (this.stopped || Date.now() >= deadline) return false;
      await this.waitAndRecount();
      if (Date.now() - this.lastCheckpoint >= (this.deps.checkpointMs ?? 2000)) await this.checkpoint();
    }
  }

  private async waitAndRecount(): Promise<void> {
    await (this.deps.waitForProgress?.(1000) ?? sleep(1000));
    await this.absorbProgress();
    if (Date.now() - this.lastScan >= (this.deps.scanMs ?? 5000)) {
      // Entries an operator skipped never report back: the journal itself says how many are left.
      this.lastScan = Date.now();
      const left = await this.deps.outstanding();
      this.job.entriesFinished = Math.max(this.job.entriesFinished, this.job.entriesWritten - left);
    }
  }

  private async absorbProgress(): Promise<void> {
    if (this.deps.drainProgress) this.addProgress(await this.deps.drainProgress());
  }

  private async checksums(path: string): Promise<{ source: string; peer: string }> {
    const [source, peer] = await Promise.all([
      this.read(() => this.deps.source.checksum(path, this.abort.signal)),
      this.read(() => this.deps.peer.checksum(path, this.abort.signal)),
    ]);
    return { source, peer };
  }

  /** A read that failed is tried again (twice, after a pause); then the job fails with the reader's reason. */
  private async read<T>(task: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await task();
      } catch (error) {
        if (!(error instanceof TreeReadError) || attempt >= READ_ATTEMPTS || this.stopped) throw error;
        await sleep(250 * attempt);
      }
    }
  }
}

/** The job's own folder is missing on the peer: report it, and make it first. */
function missingRoot(result: FolderResult): void {
  const { path } = result.folder;
  result.differences.unshift({ path, kind: 'missing', source: { type: 'dir' }, peer: null });
  result.counts.scanned = (result.counts.scanned ?? 0) + 1;
  result.counts.missing = (result.counts.missing ?? 0) + 1;
  result.writes.unshift({ op: 'makedir', path, ifNoneMatch: '*' });
}

/** Waits for the first of `tasks` to settle, or `ms`, whichever comes first (the timer is cleared). */
async function raceTimeout(tasks: Iterable<Promise<unknown>>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  try {
    await Promise.race([...tasks, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
