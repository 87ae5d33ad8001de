import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { isConditionalConflict, isMissingObject, isPreconditionFailed } from '../../../adapters/s3-journal/util.js';
import type { S3Objects } from './s3-objects.js';

/**
 * One slice of a job at a time, whatever runs it (overlapping ping invocations, several `serve` processes): the
 * slice holds `<prefix>/jobs/<id>/lease`, created with `If-None-Match: *`. A lease past its expiry (its holder
 * died) is taken over with `If-Match` on its ETag, so two processes cannot both take it.
 */
export class JobLease {
  constructor(private readonly s3: S3Objects) {}

  /** True when this process now holds the job's lease until `until` (epoch ms). */
  async take(prefix: string, until: number, now = Date.now()): Promise<{ release: () => Promise<void> } | undefined> {
    const Key = `${prefix}lease`;
    const body = JSON.stringify({ until });
    let etag = await this.put(Key, body, { IfNoneMatch: '*' });
    if (!etag) {
      const current = await this.read(Key);
      if (!current || current.until > now) return undefined;
      etag = await this.put(Key, body, { IfMatch: current.etag });
      if (!etag) return undefined;
    }
    const held = etag;
    return {
      release: async () => {
        try {
          await this.s3.client.send(new DeleteObjectCommand({ Bucket: this.s3.bucket, Key, IfMatch: held }));
        } catch (error) {
          if (!isPreconditionFailed(error) && !isMissingObject(error)) throw error;
        }
      },
    };
  }

  private async put(
    Key: string,
    Body: string,
    condition: { IfNoneMatch?: string; IfMatch?: string },
  ): Promise<string | undefined> {
    try {
      const answer = await this.s3.client.send(
        new PutObjectCommand({ Bucket: this.s3.bucket, Key, Body, ContentType: 'application/json', ...condition }),
      );
      return answer.ETag ?? '';
    } catch (error) {
      if (isPreconditionFailed(error) || isConditionalConflict(error)) return undefined;
      throw error;
    }
  }

  private async read(Key: string): Promise<{ until: number; etag: string } | undefined> {
    try {
      const got = await this.s3.client.send(new GetObjectCommand({ Bucket: this.s3.bucket, Key }));
      const value = JSON.parse((await got.Body?.transformToString('utf8')) ?? '{}') as { until?: unknown };
      return { until: typeof value.until === 'number' ? value.until : 0, etag: got.ETag ?? '' };
    } catch (error) {
      if (isMissingObject(error)) return { until: 0, etag: '' };
      throw error;
    }
  }
}
