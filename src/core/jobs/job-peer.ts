import type { JournalEntry } from '../entry.js';
import type { StoredBody } from '../journal.js';
import type { Peer, ReplayOutcome } from '../peer.js';

/** How a job's write ended on the peer. */
export type JobWriteResult =
  /** Written (copied, made, removed); `bytes` of body sent. */
  | { kind: 'written'; bytes: number }
  /** Left out on purpose: a live change touched the path, or the peer or source changed since the job compared. */
  | { kind: 'skipped'; reason: string }
  /** Refused or unreadable (the source or the peer said no): counted, and the entry leaves the journal. */
  | { kind: 'failed'; reason: string }
  /** The peer is down or refuses our credentials: the entry waits in the journal like any other. */
  | { kind: 'retry'; outcome: Exclude<ReplayOutcome, { kind: 'applied' }> }
  /** Not sent: the delete guard holds it (HELD) until an operator releases or discards it. */
  | { kind: 'held'; reason: string };

/** Carries out job entries against the peer (adapters/webdav/job-writer.ts). */
export interface JobWriter {
  write(entry: JournalEntry, signal?: AbortSignal): Promise<JobWriteResult>;
}

/** What the replay side asks about jobs, and tells them. */
export interface JobGate {
  /**
   * Undefined when the entry may be written now; else why not: its job no longer runs (dropped), or a live change
   * touched its path after the job started (skipped). Asked at the moment of replay, after every older overlapping
   * entry of the lane is done — see docs/convergence.md, "Ordering".
   */
  refuse(entry: JournalEntry): Promise<{ drop: boolean; reason: string } | undefined>;
  record(entry: JournalEntry, result: JobWriteResult): Promise<void>;
}

/**
 * A peer as the replayers see it, with job entries routed to the job writer. Everything else goes to the peer
 * adapter untouched. A job entry that is not written (skipped, failed, dropped) counts as applied: it leaves the
 * journal, so that it never holds back a live change behind it.
 */
export class JobAwarePeer implements Peer {
  readonly name: string;

  constructor(
    private readonly inner: Peer,
    private readonly writer: JobWriter,
    private readonly gate: JobGate,
  ) {
    this.name = inner.name;
  }

  probe(): Promise<ReplayOutcome> {
    return this.inner.probe();
  }

  async apply(entry: JournalEntry, openBody: () => Promise<StoredBody>, signal?: AbortSignal): Promise<ReplayOutcome> {
    if (!entry.job) return this.inner.apply(entry, openBody, signal);
    const refusal = await this.gate.refuse(entry);
    if (refusal?.drop) return { kind: 'applied', detail: `job entry dropped: ${refusal.reason}` };
    const result: JobWriteResult = refusal
      ? { kind: 'skipped', reason: refusal.reason }
      : await this.writer.write(entry, signal);
    if (result.kind === 'retry') return result.outcome;
    if (signal?.aborted) return { kind: 'offline', reason: 'UND_ERR_ABORTED' };
    await this.gate.record(entry, result);
    if (result.kind === 'written') return { kind: 'applied', detail: `job ${entry.job}: written` };
    return { kind: 'applied', detail: `job ${entry.job}: ${result.kind}: ${result.reason}` };
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
