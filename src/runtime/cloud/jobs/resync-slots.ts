import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { isConditionalConflict, isMissingObject, isPreconditionFailed } from '../../../adapters/s3-journal/util.js';
import type { S3Objects } from './s3-objects.js';

/**
 * One resync per peer, whichever API process creates it: `<prefix>/jobs-resync/<peer>` holds the id of the resync
 * that has the peer, written with `If-None-Match: *` (two processes creating a resync at once: one gets it). A
 * slot whose resync no longer runs (ended, or its creation died half-way) is taken over with `If-Match` on its
 * ETag, so two processes cannot both take it over either. A resync that ends gives its slot back.
 */
export class ResyncSlots {
  constructor(
    private readonly s3: S3Objects,
    /** Whether the resync of that id still runs (or may: created a moment ago, its record not written yet). */
    private readonly running: (id: string) => Promise<boolean>,
  ) {}

  /** Takes the peer's slot for resync `id`; undefined when taken, else the id of the resync that holds it. */
  async take(peer: string, id: string): Promise<string | undefined> {
    const key = this.key(peer);
    if ((await this.put(key, id, { IfNoneMatch: '*' })) !== undefined) return undefined;
    const current = await this.read(key);
    if (!current) return (await this.put(key, id, { IfNoneMatch: '*' })) !== undefined ? undefined : 'another resync';
    if (current.id === id) return undefined;
    if (await this.running(current.id)) return current.id;
    return (await this.put(key, id, { IfMatch: current.etag })) !== undefined ? undefined : current.id;
  }

  /** Gives the peer's slot back if resync `id` holds it. */
  async release(peer: string, id: string): Promise<void> {
    const key = this.key(peer);
    const current = await this.read(key);
    if (current?.id !== id) return;
    try {
      await this.s3.client.send(new DeleteObjectCommand({ Bucket: this.s3.bucket, Key: key, IfMatch: current.etag }));
    } catch (error) {
      if (!isPreconditionFailed(error) && !isMissingObject(error)) throw error;
    }
  }

  private key(peer: string): string {
    return `${this.s3.root}jobs-resync/${encodeURIComponent(peer)}`;
  }

  private async put(
    Key: string,
    Body: string,
    condition: { IfNoneMatch?: string; IfMatch?: string },
  ): Promise<string | undefined> {
    try {
      const answer = await this.s3.client.send(
        new PutObjectCommand({ Bucket: this.s3.bucket, Key, Body, ContentType: 'text/plain', ...condition }),
      );
      return answer.ETag ?? '';
    } catch (error) {
      if (isPreconditionFailed(error) || isConditionalConflict(error)) return undefined;
      throw error;
    }
  }

  private async read(Key: string): Promise<{ id: string; etag: string } | undefined> {
    try {
      const got = await this.s3.client.send(new GetObjectCommand({ Bucket: this.s3.bucket, Key }));
      return { id: ((await got.Body?.transformToString('utf8')) ?? '').trim(), etag: got.ETag ?? '' };
    } catch (error) {
      if (isMissingObject(error)) return undefined;
      throw error;
    }
  }
}
