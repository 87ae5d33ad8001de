import {
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { isConditionalConflict, isMissingObject, isPreconditionFailed } from '../../adapters/s3-journal/util.js';
import type { ReplicaRecords } from '../../core/echo.js';
import type { Logger } from '../../core/logger.js';

/** Object metadata (`x-amz-meta-expires-at`) holding when a record stops counting, in ms since the epoch. */
const EXPIRES_AT = 'expires-at';
/** Lookups of one report sent at once (a delete deep in a tree asks for each of its folders). */
const LOOKUPS_AT_ONCE = 8;
/** Rounds of read-increment-conditional-write before one count is given up (best effort). */
const COUNT_ROUNDS = 10;

export interface S3ReplicaRecordsOptions {
  logger?: Logger;
}

/**
 * Applied-replica records shared by every process of a cloud relay, beside the journal:
 * - `<prefix>/echo/replicas/<node>/<sha256 of the fingerprint>`: one object per fingerprint, its expiry in the
 *   object's metadata. Recording is one PUT per fingerprint (a blind overwrite: no read, no race); a lookup is one
 *   HEAD per fingerprint. S3 is strongly consistent (read-after-write, including overwrites), so a record written
 *   before the replica was sent is seen by every later lookup. Expired records are ignored; S3 lifecycle rules
 *   count in days, so the stack's rule removes them a day or two later (the window is at most one day).
 * - `<prefix>/echo/counts/<node>.json`: `{"echoesSuppressed": n}`, incremented with a conditional PUT
 *   (`If-Match` on the ETag read, `If-None-Match: *` for the first) and a few retries; a count that keeps losing
 *   races, or meets an error, is dropped with a warning. Counting never fails a request.
 * Node names are `[A-Za-z0-9._-]` (config schema), safe in a key as they are.
 */
export class S3ReplicaRecords implements ReplicaRecords {
  private readonly root: string;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    prefix: string,
    private readonly options: S3ReplicaRecordsOptions = {},
  ) {
    this.root = `${prefix === '' ? '' : `${prefix}/`}echo/`;
  }

  async replicaKey(node: string, print: string): Promise<string> {
    const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(print));
    return `${this.root}replicas/${node}/${hex(new Uint8Array(digest))}`;
  }

  countKey(node: string): string {
    return `${this.root}counts/${node}.json`;
  }

  async remember(node: string, prints: readonly string[], expiresAt: number): Promise<void> {
    await Promise.all(
      prints.map(async (print) =>
        this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: await this.replicaKey(node, print),
            // For a person browsing the bucket; lookups read only the metadata.
            Body: JSON.stringify({ node, fingerprint: print, expiresAt: new Date(expiresAt).toISOString() }),
            ContentType: 'application/json',
            Metadata: { [EXPIRES_AT]: String(expiresAt) },
          }),
        ),
      ),
    );
  }

  async remembers(node: string, prints: readonly string[], now: number): Promise<boolean> {
    for (let at = 0; at < prints.length; at += LOOKUPS_AT_ONCE) {
      const found = await Promise.all(prints.slice(at, at + LOOKUPS_AT_ONCE).map((p) => this.expiresAt(node, p)));
      if (found.some((expiresAt) => expiresAt > now)) return true;
    }
    return false;
  }

  async countEcho(node: string): Promise<void> {
    try {
      for (let round = 0; round < COUNT_ROUNDS; round++) {
        const { count, etag } = await this.readCount(node);
        if (await this.writeCount(node, count + 1, etag)) return;
        // S3 may refuse every writer of a round (409 for writes in flight together): step apart before the next.
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * (round + 1)));
      }
      this.options.logger?.warn('echo count not updated: too many concurrent updates', { node });
    } catch (error) {
      this.options.logger?.warn('echo count not updated', { node, error });
    }
  }

  async echoCounts(nodes: readonly string[]): Promise<ReadonlyMap<string, number>> {
    return new Map(await Promise.all(nodes.map(async (node) => [node, (await this.readCount(node)).count] as const)));
  }

  /** When the record of `print` expires (0 when there is none). */
  private async expiresAt(node: string, print: string): Promise<number> {
    try {
      const head = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: await this.replicaKey(node, print) }),
      );
      const value = Number(head.Metadata?.[EXPIRES_AT]);
      return Number.isFinite(value) ? value : 0;
    } catch (error) {
      if (isMissingObject(error)) return 0;
      throw error;
    }
  }

  private async readCount(node: string): Promise<{ count: number; etag: string | undefined }> {
    try {
      const got = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.countKey(node) }));
      const text = (await got.Body?.transformToString('utf8')) ?? '';
      return { count: parseCount(text), etag: got.ETag };
    } catch (error) {
      if (isMissingObject(error)) return { count: 0, etag: undefined };
      throw error;
    }
  }

  private async writeCount(node: string, count: number, etag: string | undefined): Promise<boolean> {
    const input: PutObjectCommandInput = {
      Bucket: this.bucket,
      Key: this.countKey(node),
      Body: JSON.stringify({ echoesSuppressed: count }),
      ContentType: 'application/json',
      ...(etag === undefined ? { IfNoneMatch: '*' } : { IfMatch: etag }),
    };
    try {
      await this.client.send(new PutObjectCommand(input));
      return true;
    } catch (error) {
      if (isPreconditionFailed(error) || isConditionalConflict(error) || isMissingObject(error)) return false;
      throw error;
    }
  }
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** A count object written by someone else is read defensively: anything odd reads as 0. */
function parseCount(text: string): number {
  try {
    const value = (JSON.parse(text) as { echoesSuppressed?: unknown }).echoesSuppressed;
    return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : 0;
  } catch {
    return 0;
  }
}
