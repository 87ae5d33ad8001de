import { randomUUID } from 'node:crypto';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { isConditionalConflict, isMissingObject, isPreconditionFailed } from '../../adapters/s3-journal/util.js';
import type { EntryRef } from '../../core/entry.js';
import type { Logger } from '../../core/logger.js';

/** An entry taken by one process: only the holder replays it, until it releases the claim. */
export interface EntryClaim {
  release(): Promise<void>;
}

/**
 * Which process replays an entry right now. Two deliveries of one entry can reach two processes at the same time
 * (its own doorbell message, and a re-drive in another message group); without a claim both would apply it, and
 * a newer change to the same path applied in between would be overwritten by the older one.
 */
export interface EntryClaims {
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
   * A claim not renewed for this long belongs to a process that died (renewed every third of it while held).
   * Default 16 minutes: longer than the replay function can run (15).
   */
  ttlMs?: number;
  logger?: Logger;
  now?: () => number;
}

const DEFAULT_TTL_MS = 16 * 60_000;
/** Rounds of "create, else look at the existing claim" before giving up on an entry that keeps changing hands. */
const TAKE_ROUNDS = 3;

/**
 * Claims as objects `<prefix>/claims/<lane>/<id>`, created with a conditional PUT (`If-None-Match: *`): S3 lets
 * exactly one of two concurrent creators succeed. A claim older than `ttlMs` (S3's Last-Modified) is taken over
 * with `If-Match` on its ETag, so two processes finding the same stale claim cannot both win. A holder renews
 * its claim while it works (a multi-gigabyte body may take minutes) and deletes it when done.
 */
export class S3EntryClaims implements EntryClaims {
  private readonly root: string;
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly owner = randomUUID();

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    prefix: string,
    private readonly options: S3EntryClaimsOptions = {},
  ) {
    this.root = `${prefix === '' ? '' : `${prefix}/`}claims/`;
    this.ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
    this.now = options.now ?? Date.now;
  }

  async take(ref: EntryRef): Promise<EntryClaim | undefined> {
    const key = `${this.root}${ref.lane}/${ref.id}`;
    for (let round = 0; round < TAKE_ROUNDS; round++) {
      const created = await this.put(key, { IfNoneMatch: '*' });
      if (created) return this.held(key, created);
      const existing = await this.head(key);
      if (!existing) continue; // released meanwhile: try to create it again
      if (this.now() - existing.modified < this.ttlMs) return undefined; // a live holder
      const taken = await this.put(key, { IfMatch: existing.etag });
      if (taken) {
        this.options.logger?.warn('took over the claim of a process that stopped while replaying an entry', {
          lane: ref.lane,
          entryId: ref.id,
          claimedAt: new Date(existing.modified).toISOString(),
        });
        return this.held(key, taken);
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
    for (let at = 0; at < orphans.length; at += 1000) {
      await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: orphans.slice(at, at + 1000).map((Key) => ({ Key })), Quiet: true },
        }),
      );
    }
    return orphans.length;
  }

  /** A claim this process holds: renewed while held, deleted on release. */
  private held(key: string, etag: string): EntryClaim {
    let current = etag;
    let renewing: Promise<void> = Promise.resolve();
    const timer = setInterval(
      () => {
        renewing = this.put(key, { IfMatch: current }).then(
          (next) => {
            if (next) current = next;
            else this.options.logger?.warn('lost the claim on an entry while replaying it', { key });
          },
          (error: unknown) => this.options.logger?.warn('could not renew the claim on an entry', { key, error }),
        );
      },
      Math.max(1000, Math.floor(this.ttlMs / 3)),
    );
    timer.unref();
    return {
      release: async () => {
        clearInterval(timer);
        await renewing;
        await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
      },
    };
  }

  /** A conditional PUT of the claim; its new ETag, or undefined when the condition failed. */
  private async put(
    key: string,
    condition: { IfNoneMatch: string } | { IfMatch: string },
  ): Promise<string | undefined> {
    try {
      const out = await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: JSON.stringify({ owner: this.owner, at: new Date(this.now()).toISOString() }),
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

  private async head(key: string): Promise<{ etag: string; modified: number } | undefined> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { etag: out.ETag ?? '', modified: out.LastModified?.getTime() ?? 0 };
    } catch (error) {
      if (isMissingObject(error)) return undefined;
      throw error;
    }
  }
}
