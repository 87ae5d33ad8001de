import { createHash } from 'node:crypto';
import { BODY_MEMORY_BYTES, ByteBudget } from '../../core/byte-budget.js';
import type { ByteStream } from '../../core/bytes.js';
import type { EntryRef } from '../../core/entry.js';
import type { BodyDigest } from '../../core/journal.js';
import { receiveAtMost } from '../../core/receive.js';
import { asBuffer } from '../node-bytes.js';
import { entryKey } from './layout.js';

export interface StagedBody {
  bytes: Buffer;
  digest: BodyDigest;
}

/**
 * Small bodies received for uploads not committed yet, held in memory within a budget shared with the API's
 * one-request uploads: the commit then journals entries and body in one step. Only for uploads that live in
 * memory until their commit anyway (a restart forgets them).
 */
export class StagedBodies {
  private readonly byKey = new Map<string, StagedBody>();

  constructor(private budget: ByteBudget = new ByteBudget(BODY_MEMORY_BYTES)) {}

  useBudget(budget: ByteBudget): void {
    this.budget = budget;
  }

  /**
   * Receives `body` into memory if up to `maxBytes` fit in the budget (reserved while it arrives). Gives the
   * digest once it is staged, or the bytes when the budget went to others meanwhile (the caller keeps them on
   * disk instead), or undefined when there was no room to start with (the caller streams it to disk).
   */
  async receive(
    ref: EntryRef,
    body: ByteStream,
    maxBytes: number,
  ): Promise<{ digest: BodyDigest } | { unstaged: Buffer } | undefined> {
    if (!this.budget.tryReserve(maxBytes, { upload: true })) return undefined;
    let bytes: Buffer;
    try {
      bytes = asBuffer(await receiveAtMost(body, maxBytes));
    } finally {
      this.budget.release(maxBytes);
    }
    const digest = { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
    this.drop(ref); // a concurrent PUT of the same body: the last one wins, as on disk
    if (!this.budget.tryReserve(bytes.length, { upload: true })) return { unstaged: bytes };
    this.byKey.set(entryKey(ref), { bytes, digest });
    return { digest };
  }

  get(ref: EntryRef): StagedBody | undefined {
    return this.byKey.get(entryKey(ref));
  }

  /** Forgets `ref`'s body and gives its memory back. */
  drop(ref: EntryRef): void {
    const staged = this.byKey.get(entryKey(ref));
    if (!staged) return;
    this.byKey.delete(entryKey(ref));
    this.budget.release(staged.bytes.length);
  }
}
