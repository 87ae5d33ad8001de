import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { isConditionalConflict, isMissingObject, isPreconditionFailed } from '../../../adapters/s3-journal/util.js';

/** The few S3 calls the cloud jobs make, on one bucket and key prefix (`<prefix>/`). */
export class S3Objects {
  readonly root: string;

  constructor(
    readonly client: S3Client,
    readonly bucket: string,
    prefix: string,
  ) {
    this.root = prefix === '' ? '' : `${prefix}/`;
  }

  async getText(key: string): Promise<string | undefined> {
    try {
      const got = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return (await got.Body?.transformToString('utf8')) ?? '';
    } catch (error) {
      if (isMissingObject(error)) return undefined;
      throw error;
    }
  }

  async put(key: string, body = '', contentType = 'application/octet-stream'): Promise<void> {
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType }),
    );
  }

  /**
   * A PUT with `If-None-Match: *` (create) or `If-Match` (replace what was read): its ETag, or undefined when the
   * condition failed (someone else wrote first).
   */
  async putIf(
    key: string,
    body: string,
    condition: { IfNoneMatch?: string; IfMatch?: string },
    contentType = 'application/json',
  ): Promise<string | undefined> {
    try {
      const answer = await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType, ...condition }),
      );
      return answer.ETag ?? '';
    } catch (error) {
      if (isPreconditionFailed(error) || isConditionalConflict(error)) return undefined;
      throw error;
    }
  }

  /** A small object's text and ETag, or undefined when there is none. */
  async getWithEtag(key: string): Promise<{ text: string; etag: string } | undefined> {
    try {
      const got = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return { text: (await got.Body?.transformToString('utf8')) ?? '', etag: got.ETag ?? '' };
    } catch (error) {
      if (isMissingObject(error)) return undefined;
      throw error;
    }
  }

  /** Deletes `key` if it still has `etag` (If-Match); a changed or missing object is left as it is. */
  async deleteIf(key: string, etag: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key, IfMatch: etag }));
    } catch (error) {
      if (!isPreconditionFailed(error) && !isMissingObject(error)) throw error;
    }
  }

  /** Every key under `prefix` after `startAfter`, in key order. */
  async *keys(prefix: string, startAfter?: string): AsyncGenerator<string> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: prefix,
          ContinuationToken: token,
          ...(token === undefined && startAfter !== undefined ? { StartAfter: startAfter } : {}),
        }),
      );
      for (const object of page.Contents ?? []) if (object.Key) yield object.Key;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** The next path segment of every key under `prefix` (a "folder" listing). */
  async folders(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token }),
      );
      for (const common of page.CommonPrefixes ?? []) {
        if (common.Prefix) out.push(common.Prefix.slice(prefix.length).replace(/\/$/, ''));
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async remove(keys: readonly string[]): Promise<void> {
    for (let at = 0; at < keys.length; at += 1000) {
      await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: keys.slice(at, at + 1000).map((Key) => ({ Key })), Quiet: true },
        }),
      );
    }
  }
}
