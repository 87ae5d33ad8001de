import { randomUUID } from 'node:crypto';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { isConditionalConflict, isMissingObject, isPreconditionFailed } from '../../adapters/s3-journal/util.js';
import type { EntryRef } from '../../core/entry.js';
import type { Logger } from '../../core/logger.js';
import { claimBody, claimsRoot } from './purge-notes.js';

/** An entry taken by one process: only the holder replays it, until it releases the claim. */
export interface EntryClaim {
  /**
   * The claim was taken over by another process while held, or could not be renewed for so long that another
   * process may take it over any moment.
   */
  readonly lost: boolean;
  /** Aborted when the claim is lost: whatever is done under the claim stops. */
  readonly signal: AbortSignal;
  /**
   * Taken from a holder that rewrote the entry (see `release`), or taken over from one that stopped: the entry may
   * have changed after any listing this process took before it held the claim, so it must be read again.
   */
  readonly rewritten: boolean;
  /**
   * Frees the claim (while it is still ours): the entry may be taken again. Nothing after `keep`. With
   * `entryRewritten` (the holder parked the entry or recorded a failed attempt), a note takes the claim's place
   * instead of nothing: the next taker gets it at once, marked `rewritten`.
   */
  release(options?: { entryRewritten?: boolean }): Promise<void>;
  /**
   * The entry is complete (purged): stop renewing, and leave the claim where it is. Every delivery that tries to
   * take it within `EntryClaims.keptMs` finds it taken and stands back; the sweep deletes it much later.
   */
  keep(): void;
}

/**
 * Which process replays an entry right now. Two deliveries of one entry can reach two processes at the same time
 * (its own doorbell message, and a re-drive in another message group); without a claim both would apply it, and
 * a newer change to the same path applied in between would be overwritten by the older one.
 */
export interface EntryClaims {
  /**
   * How long a claim left in place by `keep` surely still turns deliveries away (after that it may be taken over
   * as the claim of a process that died): a delivery that saw its entry in the journal less than this long before
   * it took the claim needs not read the entry again.
   */
  readonly keptMs: number;
  /** How old a claim must be before `removeOrphans` may delete it, on top of the time the sweep listed from. */
  readonly orphanAfterMs: number;
  /** The entry, taken for this process; undefined while another process holds a live claim on it. */
  take(ref: EntryRef): Promise<EntryClaim | undefined>;
  /**
   * Deletes the claims, last written before `before`, of entries `present` says are gone (a holder that died
   * after the purge, or whose release failed). Returns how many.
   */
  removeOrphans(present: (ref: EntryRef) => boolean, before: Date): Promise<number>;
}

export interface S3EntryClaimsOptions {
  /**
   * A claim not renewed for this long belongs to a process that died (renewed every third of it while held), and
   * may be taken over once it is this old plus `clockSlackMs` by S3's clock. Default 2 minutes: the entries of a
   * process that was killed wait about 3 minutes.
   */
  ttlMs?: number;
  /** How far S3's clock (Last-Modified) and ours may differ (default 60 s). */
  clockSlackMs?: number;
  logger?: Logger;
  now?: () => number;
}

const DEFAULT_TTL_MS = 2 * 60_000;
const DEFAULT_CLOCK_SLACK_MS = 60_000;
/** Our own clock for the holder's deadline: immune to wall-clock steps. */
const monotonic = () => performance.now();
/** Rounds of "create, else look at the existing claim" before giving up on an entry that keeps changing hands. */
const TAKE_ROUNDS = 3;

/**
 * Claims as objects `<prefix>/claims/<lane>/<id>`, created with a conditional PUT (`If-None-Match: *`): S3 lets
 * exactly one of two concurrent creators succeed. A claim older than `ttlMs` (S3's Last-Modified) is taken over
 * with `If-Match` on its ETag, so two processes finding the same stale claim cannot both win. A holder renews
 * its claim while it works (a multi-gigabyte body may take minutes) and deletes it when done, again with
 * `If-Match`: a claim taken over meanwhile is not its own any more. A holder that rewrote the entry overwrites its
 * claim with a note (`released: true`) instead: whoever takes the entry next takes the note over at once and knows
 * to read the entry again, whatever its listing showed. Each take writes a token of its own into the claim, so a
 * conditional write refused only because the SDK retried it after it had gone through (a lost answer) is
 * recognised as ours.
 */
export class S3EntryClaims implements EntryClaims {
  private readonly root: string;
  private readonly ttlMs: number;
  private readonly clockSlackMs: number;
  private readonly now: () => number;
  /**
   * A kept claim was last written at most a renewal (a third of the time to live) before its entry was purged, and
   * is taken over no sooner than the time to live plus the clock slack after that write: half the time to live
   * after the purge, it is still there.
   */
  readonly keptMs: number;
  /** Well past the time a kept claim can matter (see keptMs), by either clock. */
  readonly orphanAfterMs: number;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    prefix: string,
    private readonly options: S3EntryClaimsOptions = {},
  ) {
    this.root = claimsRoot(prefix);
    this.ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
    this.clockSlackMs = options.clockSlackMs ?? DEFAULT_CLOCK_SLACK_MS;
    this.keptMs = this.ttlMs / 2;
    this.orphanAfterMs = 2 * this.ttlMs + this.clockSlackMs;
    this.now = options.now ?? Date.now;
  }

  async take(ref: EntryRef): Promise<EntryClaim | undefined> {
    const key = `${this.root}${ref.lane}/${ref.id}`;
    const token = randomUUID();
    for (let round = 0; round < TAKE_ROUNDS; round++) {
      const attemptAt = monotonic();
      const created = await this.put(key, token, { IfNoneMatch: '*' });
      if (created !== undefined) return this.held(key, token, created, attemptAt, false);
      const existing = await this.look(key);
      if (!existing) continue; // released meanwhile: try to create it again
      // Ours after all: the PUT went through and only its answer was lost (the SDK's retry then found it there).
      if (existing.token === token) return this.held(key, token, existing.etag, attemptAt, false);
      // A released holder's note is free at once; a holder's claim once it is stale.
      if (!existing.released && this.now() - existing.modified < this.ttlMs + this.clockSlackMs) return undefined;
      const takeoverAt = monotonic();
      let etag = await this.put(key, token, { IfMatch: existing.etag });
      if (etag === undefined) {
        const now = await this.look(key);
        if (now?.token === token) etag = now.etag;
      }
      if (etag !== undefined) {
        if (!existing.released) {
          this.options.logger?.warn('took over the claim of a process that stopped while replaying an entry', {
            lane: ref.lane,
            entryId: ref.id,
            claimedAt: new Date(existing.modified).toISOString(),
          });
        }
        return this.held(key, token, etag, takeoverAt, true);
      }
    }
    return undefined;
  }

  async removeOrphans(present: (ref: EntryRef) => boolean, before: Date): Promise<number> {
    const orphans: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.root, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) {
        const [lane, id, rest] = (object.Key ?? '').slice(this.root.length).split('/');
        if (!lane || !id || rest !== undefined) continue;
        if ((object.LastModified?.getTime() ?? 0) < before.getTime() && !present({ lane, id })) {
          orphans.push(object.Key!);
        }
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    let removed = 0;
    for (let at = 0; at < orphans.length; at += 1000) {
      const batch = orphans.slice(at, at + 1000);
      const out = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }),
      );
      removed += batch.length - (out.Errors?.length ?? 0); // quiet: only failures are listed
    }
    return removed;
  }

  /** A claim this process holds: renewed while held, deleted on release (only while it is still ours). */
  private held(key: string, token: string, etag: string, writtenAt: number, rewritten: boolean): EntryClaim {
    let current = etag;
    let takenOver = false;
    let renewing: Promise<void> = Promise.resolve();
    const controller = new AbortController();
    const lost = () => controller.signal.aborted;
    const lose = (why: string, byAnother: boolean) => {
      if (lost()) return;
      takenOver = byAnother;
      clearInterval(timer);
      clearTimeout(fence);
      controller.abort(new Error(why));
      this.options.logger?.warn(`${why}: its replay stops; the process that takes the entry over completes it`, {
        key,
      });
    };
    // Others may take the claim over once it is `ttlMs` old by S3's clock (plus slack): a holder that could not
    // renew it for that long by its own clock gives up first, rather than replay alongside the next holder.
    let fence: NodeJS.Timeout;
    const armFence = (from: number) => {
      clearTimeout(fence);
      fence = setTimeout(
        () => lose('could not renew the claim on an entry in time', false),
        from + this.ttlMs - monotonic(),
      );
      fence.unref();
    };
    armFence(writtenAt);
    const renew = async () => {
      const started = monotonic();
      const next = await this.put(key, token, { IfMatch: current });
      const mine = next ?? (await this.look(key).then((c) => (c?.token === token ? c.etag : undefined)));
      if (mine !== undefined) {
        current = mine; // even when given up meanwhile: release deletes the claim by this ETag
        if (!lost()) armFence(started);
        return;
      }
      lose('the claim on an entry was taken over by another process', true); // nothing if given up already
    };
    const timer = setInterval(
      () => {
        renewing = renew().catch((error: unknown) =>
          this.options.logger?.warn('could not renew the claim on an entry', { key, error }),
        );
      },
      Math.max(1000, Math.floor(this.ttlMs / 3)),
    );
    timer.unref();
    let kept = false;
    return {
      get lost() {
        return lost();
      },
      signal: controller.signal,
      rewritten,
      keep: () => {
        kept = true;
        clearInterval(timer);
        clearTimeout(fence);
      },
      release: async (options = {}) => {
        clearInterval(timer);
        clearTimeout(fence);
        await renewing;
        if (kept) return; // the entry is complete: the claim marks it so until the sweep deletes it
        if (takenOver) return; // someone else's now: theirs to delete (given up: still deleted if still ours)
        if (options.entryRewritten) {
          if ((await this.put(key, token, { IfMatch: current }, true)) !== undefined) return;
          // Refused: an SDK retry of the note that went through, a renewal whose answer was lost (the claim has an
          // ETag we never heard of), or another process's claim now. Only the second needs the note again.
          const now = await this.look(key);
          if (now?.token === token && !now.released) await this.put(key, token, { IfMatch: now.etag }, true);
          return;
        }
        try {
          await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key, IfMatch: current }));
        } catch (error) {
          if (!(isPreconditionFailed(error) || isMissingObject(error))) throw error;
        }
      },
    };
  }

  /**
   * A conditional PUT of the claim (or, `released`, of the note a holder that rewrote the entry leaves); its new
   * ETag, or undefined when the condition failed.
   */
  private async put(
    key: string,
    token: string,
    condition: { IfNoneMatch: string } | { IfMatch: string },
    released = false,
  ): Promise<string | undefined> {
    try {
      const at = new Date(this.now()).toISOString();
      const out = await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: claimBody(token, at, released),
          ContentType: 'application/json',
          ...condition,
        }),
      );
      return out.ETag ?? '';
    } catch (error) {
      if (isPreconditionFailed(error) || isConditionalConflict(error) || isMissingObject(error)) return undefined;
      throw error;
    }
  }

  /**
   * The claim as it is now: its ETag, when it was last written, the token of the take that wrote it, and whether it
   * is a released holder's note.
   */
  private async look(
    key: string,
  ): Promise<{ etag: string; modified: number; token?: string; released: boolean } | undefined> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const text = (await out.Body?.transformToString()) ?? '';
      let token: string | undefined;
      let released = false;
      try {
        const parsed = JSON.parse(text) as { token?: unknown; released?: unknown };
        if (typeof parsed.token === 'string') token = parsed.token;
        released = parsed.released === true;
      } catch {
        // not a claim this code wrote: nobody's token
      }
      return { etag: out.ETag ?? '', modified: out.LastModified?.getTime() ?? 0, token, released };
    } catch (error) {
      if (isMissingObject(error)) return undefined;
      throw error;
    }
  }
}
