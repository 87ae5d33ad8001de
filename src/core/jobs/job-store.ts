import type { Difference, Job } from './job.js';

/** Differences are stored in chunks of this many, numbered from 0: chunk k holds items k*SIZE … (k+1)*SIZE-1. */
export const DIFFERENCE_CHUNK = 1000;

/**
 * Where jobs live: `<journal>/jobs/<id>/` on disk, `<prefix>/jobs/<id>/` in S3 — beside `multi_journal/`, never
 * inside it. A job's record is one small document rewritten as it progresses; its differences are appended in
 * chunks as the walk finds them, so neither memory nor the record grows with the tree.
 */
export interface JobStore {
  /** Writes (creates or replaces) the job's record. */
  save(job: Job): Promise<void>;
  read(id: string): Promise<Job | undefined>;
  /** Job ids, newest first (ids are stamps: lexical order is time order). */
  ids(): Promise<string[]>;
  /** Writes chunk `index` whole (it replaces what was there). */
  writeDifferences(id: string, index: number, items: readonly Difference[]): Promise<void>;
  /** Chunk `index`, or [] when it does not exist. */
  readDifferences(id: string, index: number): Promise<Difference[]>;
  /** Removes a job and everything it stored. */
  remove(id: string): Promise<void>;
}

/**
 * The differences a running job appends: full chunks are written once, the last (partial) chunk is rewritten
 * whole at each flush. Holds at most one chunk in memory.
 */
export class DifferenceLog {
  private chunk: Difference[] = [];
  private chunkIndex: number;
  /** Items appended, durable or not. */
  private count: number;
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly store: JobStore,
    private readonly id: string,
    durable: number,
    tail: Difference[],
  ) {
    this.count = durable;
    this.chunkIndex = Math.floor(durable / DIFFERENCE_CHUNK);
    this.chunk = tail;
  }

  /** Opens the log of a job that has `durable` valid items (a resumed job may find more: they are dropped). */
  static async open(store: JobStore, id: string, durable: number): Promise<DifferenceLog> {
    const index = Math.floor(durable / DIFFERENCE_CHUNK);
    const tail = durable % DIFFERENCE_CHUNK === 0 ? [] : await store.readDifferences(id, index);
    return new DifferenceLog(store, id, durable, tail.slice(0, durable % DIFFERENCE_CHUNK));
  }

  get appended(): number {
    return this.count;
  }

  append(items: readonly Difference[]): void {
    for (const item of items) {
      this.chunk.push(item);
      this.count += 1;
      if (this.chunk.length === DIFFERENCE_CHUNK) {
        const full = this.chunk;
        const index = this.chunkIndex;
        this.chunk = [];
        this.chunkIndex += 1;
        this.enqueue(() => this.store.writeDifferences(this.id, index, full));
      }
    }
  }

  /** Makes everything appended so far durable. */
  flush(): Promise<void> {
    if (this.chunk.length > 0) {
      const partial = [...this.chunk];
      const index = this.chunkIndex;
      this.enqueue(() => this.store.writeDifferences(this.id, index, partial));
    }
    return this.writing;
  }

  private enqueue(write: () => Promise<void>): void {
    // One write at a time, in order: a later rewrite of the partial chunk must land after an earlier one.
    this.writing = this.writing.then(write);
  }
}

/** A page of a job's differences: `cursor` is the index of the first item (a decimal string). */
export async function readDifferencePage(
  store: JobStore,
  job: Job,
  cursor: number,
  limit: number,
): Promise<{ items: Difference[]; next: string | null }> {
  const items: Difference[] = [];
  let at = cursor;
  const end = Math.min(job.differences, cursor + limit);
  while (at < end) {
    const index = Math.floor(at / DIFFERENCE_CHUNK);
    const chunk = await store.readDifferences(job.id, index);
    const from = at - index * DIFFERENCE_CHUNK;
    const take = chunk.slice(from, from + (end - at));
    if (take.length === 0) break;
    items.push(...take);
    at += take.length;
  }
  return { items, next: at < job.differences ? String(at) : null };
}
