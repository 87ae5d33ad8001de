import { type DeleteGuard, deleteOrigin } from '../delete-guard.js';
import type { JournalEntry } from '../entry.js';
import type { JournalStore } from '../journal.js';
import { laneId } from '../lane.js';
import type { Logger } from '../logger.js';
import { stampFloor, stampTime } from '../stamp.js';
import type { Job, PlannedWrite } from './job.js';
import type { JobScope } from './scope.js';

/**
 * A job's planned write as a journal entry in the peer's lane, so that the lane orders it with live changes
 * (docs/convergence.md, "Ordering"). A copy is an upload whose body is read from the job's source when it
 * replays (`from`); the journal holds no body for it.
 */
export function jobEntry(
  job: Job,
  write: PlannedWrite,
  scope: JobScope,
  id: string,
  createdAt: string,
): JournalEntry | undefined {
  const location = scope.locationOf(write.path);
  if (!location) return undefined;
  const entry: JournalEntry = {
    id,
    lane: laneId(location, job.peer),
    peer: job.peer,
    location,
    action: write.op === 'copy' ? 'upload' : write.op,
    path: write.path,
    job: job.id,
    createdAt,
    status: 'PENDING',
    attempts: 0,
  };
  if (write.op === 'copy') {
    entry.from = job.from;
    entry.size = write.size;
    if (write.modified) entry.modified = write.modified;
    if (write.fromEtag) entry.fromEtag = write.fromEtag;
  }
  if (write.op !== 'delete' && write.ifNoneMatch) entry.ifNoneMatch = write.ifNoneMatch;
  if (write.op !== 'makedir' && write.ifMatch) entry.ifMatch = write.ifMatch;
  return entry;
}

/**
 * A job's removals the delete guard HELD whose path a live change touched since (`touched`) go back to PENDING,
 * not released: the job will not send them any more (at replay it answers for them, skipped), and held they would
 * hold back that live change, journaled after them, until an operator acted. Entries no longer HELD (an operator
 * acted, or the replay has not written the hold yet) are left alone. Those put back are rung and logged.
 */
export async function redriveTouchedHolds(
  journal: { store: JournalStore; ring: (entries: readonly JournalEntry[]) => Promise<void>; logger: Logger },
  candidates: readonly JournalEntry[],
  touched: (path: string) => boolean,
): Promise<void> {
  const { store, ring, logger } = journal;
  const redriven: JournalEntry[] = [];
  for (const entry of candidates) {
    if (!entry.job || !touched(entry.path)) continue; // a candidate may be a copy from before the hold was written
    const current = await store.read(entry);
    if (current?.status !== 'HELD') continue;
    const { hold: _hold, ...rest } = current;
    const pending = { ...rest, status: 'PENDING' as const };
    await store.update(pending);
    redriven.push(pending);
  }
  if (redriven.length === 0) return;
  await ring(redriven);
  logger.info("a live change touched a job's held removal: the job leaves it out", {
    entries: redriven.map((e) => ({ lane: e.lane, id: e.id, path: e.path, job: e.job })),
  });
}

/**
 * How much earlier than its job an entry of the job may be stamped: in cloud mode the job's slices run in other
 * processes than the one that stamped the job, each with its own clock (NTP-synchronised).
 */
const JOB_CLOCK_SKEW_MS = 10 * 60_000;

/**
 * A job's entries still in the journal. Only what was stamped since the job started (less the clock skew) is read,
 * not the whole journal: a backlog of a million older entries costs nothing here.
 */
export async function entriesOfJob(store: JournalStore, id: string): Promise<JournalEntry[]> {
  const after = stampFloor(stampTime(id).getTime() - JOB_CLOCK_SKEW_MS);
  const found: JournalEntry[] = [];
  for (const lane of await store.lanes()) {
    for (const entry of await store.list(lane, { after })) if (entry.job === id) found.push(entry);
  }
  return found;
}

/**
 * The one place a job's removals (extras with `delete: true`, and items replaced by another type) enter the
 * journal. The delete guard (CONTRACT "Delete guard") wraps it: it may hold some of them for an operator.
 */
export interface RemovalGate {
  admit(job: Job, removals: readonly JournalEntry[]): Promise<JournalEntry[]>;
}

/** Today: every removal is journaled as planned. */
export const admitAllRemovals: RemovalGate = { admit: async (_job, removals) => [...removals] };

/**
 * A resync's removals through the delete guard, counted under the job (origin `job:<id>`): past `maxDeletes`
 * within the window, the rest are journaled HELD. The job waits for them like for any of its entries, so it ends
 * once an operator has released (they replay) or discarded them.
 */
export function guardedRemovals(guard: DeleteGuard): RemovalGate {
  return {
    admit: async (job, removals) => {
      if (removals.length === 0 || !guard.enabled) return [...removals];
      const verdict = await guard.admit(deleteOrigin({ job: job.id }), removals.length);
      job.counts.held += removals.length - verdict.pass;
      return removals.map((entry, i) =>
        i < verdict.pass ? entry : { ...entry, status: 'HELD', hold: 'window', lastError: verdict.reason },
      );
    },
  };
}
