import { DeleteObjectsCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { EntryRef } from '../../core/entry.js';
import { isLaneId } from '../../core/lane.js';
import { isStamp } from '../../core/stamp.js';

export interface Waiting {
  blocker: EntryRef;
  waiter: EntryRef;
}

/**
 * Who waits for whom: a replay worker that finds an entry held back by an older overlapping one registers it
 * here, and whoever completes the blocker re-rings its waiters. Only a hint, like the queue: losing it delays an
 * entry until the next sweep, never reorders or loses it.
 */
export interface WaitList {
  add(blocker: EntryRef, waiter: EntryRef): Promise<void>;
  /** Removes and returns the entries registered as waiting for `blocker`. */
  take(blocker: EntryRef): Promise<EntryRef[]>;
  /** Every registration (the sweep releases those whose blocker is gone). */
  all(): Promise<Waiting[]>;
  remove(waiting: readonly Waiting[]): Promise<void>;
}

/** Empty objects `<prefix>/waiting/<lane>/<blocker id>/<waiter id>`: one PUT to wait, one LIST to release. */
export class S3WaitList implements WaitList {
  private readonly root: string;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    prefix: string,
  ) {
    this.root = `${prefix === '' ? '' : `${prefix}/`}waiting/`;
  }

  async add(blocker: EntryRef, waiter: EntryRef): Promise<void> {
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: this.key({ blocker, waiter }), Body: '', ContentLength: 0 }),
    );
  }

  async take(blocker: EntryRef): Promise<EntryRef[]> {
    const found = await this.list(`${this.root}${blocker.lane}/${blocker.id}/`);
    await this.remove(found);
    return found.map((w) => w.waiter);
  }

  all(): Promise<Waiting[]> {
    return this.list(this.root);
  }

  async remove(waiting: readonly Waiting[]): Promise<void> {
    for (let at = 0; at < waiting.length; at += 1000) {
      await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: waiting.slice(at, at + 1000).map((w) => ({ Key: this.key(w) })), Quiet: true },
        }),
      );
    }
  }

  private key(w: Waiting): string {
    return `${this.root}${w.blocker.lane}/${w.blocker.id}/${w.waiter.id}`;
  }

  private async list(prefix: string): Promise<Waiting[]> {
    const found: Waiting[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) {
        const [lane, blocker, waiter] = (object.Key ?? '').slice(this.root.length).split('/');
        if (lane && blocker && waiter && isLaneId(lane) && isStamp(blocker) && isStamp(waiter)) {
          found.push({ blocker: { lane, id: blocker }, waiter: { lane, id: waiter } });
        }
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return found;
  }
}
