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
    let etag = await this.s3.putIf(Key, body, { IfNoneMatch: '*' });
    if (!etag) {
      const current = await this.read(Key);
      if (!current || current.until > now) return undefined;
      etag = await this.s3.putIf(Key, body, { IfMatch: current.etag });
      if (!etag) return undefined;
    }
    const held = etag;
    return {
      release: () => this.s3.deleteIf(Key, held),
    };
  }

  private async read(key: string): Promise<{ until: number; etag: string }> {
    const got = await this.s3.getWithEtag(key);
    if (!got) return { until: 0, etag: '' };
    const value = JSON.parse(got.text || '{}') as { until?: unknown };
    return { until: typeof value.until === 'number' ? value.until : 0, etag: got.etag };
  }
}
