import { createHash } from 'node:crypto';
import { pipeline, type Readable, Transform } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  type S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { JournalStorageError, PayloadTooLargeError } from '../../core/errors.js';
import type { BodyDigest } from '../../core/journal.js';
import { isMissingObject, mapLimit } from './util.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** Multipart upload of bodies: memory stays near (queueSize + 1) × partSize whatever the body's size. */
export const UPLOAD_PART_SIZE = 8 * MiB;
export const UPLOAD_QUEUE_SIZE = 2;
/** CopyObject copies at most 5 GiB; larger bodies are copied part by part (UploadPartCopy). */
export const SINGLE_COPY_LIMIT = 5 * GiB;
export const COPY_PART_SIZE = 512 * MiB;
const MIN_PART_SIZE = 5 * MiB;
const MAX_PARTS = 10_000;
const COPY_CONCURRENCY = 4;

/** A body's digest and the ETag of the object it was taken from (to tell whether the object changed since). */
export interface StoredDigest extends BodyDigest {
  etag: string | undefined;
}

/**
 * Streams `body` to `key` (multipart above one part), hashing and counting on the way. More than `maxBytes` bytes
 * fail the upload with PayloadTooLargeError before the excess leaves this process; the multipart upload is then
 * aborted, so nothing new becomes visible under `key` (S3 makes an object visible only once it is complete).
 */
export async function uploadBody(
  client: S3Client,
  bucket: string,
  key: string,
  body: Readable,
  maxBytes: number,
): Promise<StoredDigest> {
  const hash = createHash('sha256');
  let size = 0;
  const meter = new Transform({
    highWaterMark: MiB,
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      if (size > maxBytes) return done(new PayloadTooLargeError(`the body is larger than ${maxBytes} bytes`));
      hash.update(chunk);
      done(null, chunk);
    },
  });
  // pipeline: an error on either side destroys both (the sender's stream is not left hanging).
  pipeline(body, meter, () => {});
  const upload = new Upload({
    client,
    params: { Bucket: bucket, Key: key, Body: meter, ContentType: 'application/octet-stream' },
    partSize: UPLOAD_PART_SIZE,
    queueSize: UPLOAD_QUEUE_SIZE,
    leavePartsOnError: false,
  });
  let result: { ETag?: string };
  try {
    result = await upload.done();
  } catch (error) {
    meter.destroy();
    body.destroy();
    throw error;
  }
  return { size, sha256: hash.digest('hex'), etag: result.ETag };
}

/** Hashes a stored object by streaming it; undefined when there is no such object. */
export async function digestObject(client: S3Client, bucket: string, key: string): Promise<StoredDigest | undefined> {
  let response: GetObjectCommandOutput;
  try {
    response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  } catch (error) {
    if (isMissingObject(error)) return undefined;
    throw error;
  }
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of response.Body as Readable) {
    size += (chunk as Buffer).length;
    hash.update(chunk as Buffer);
  }
  if (response.ContentLength !== undefined && size !== response.ContentLength) {
    throw new JournalStorageError(`s3://${bucket}/${key}: read ${size} of ${response.ContentLength} bytes`);
  }
  return { size, sha256: hash.digest('hex'), etag: response.ETag };
}

export interface CopyOptions {
  /** The source's size in bytes (decides between CopyObject and a multipart copy). */
  size: number;
  /** Copy only this version of the source (x-amz-copy-source-if-match); a changed source fails with 412. */
  ifMatch?: string;
  /** Largest body copied with one CopyObject (default and maximum: 5 GiB). */
  singleCopyLimit?: number;
  /** Part size of multipart copies (default 512 MiB; raised as needed to stay within 10,000 parts). */
  partSize?: number;
}

/** Server-side copy of `source` to `target` (no bytes pass through this process). Returns the new ETag. */
export async function copyObject(
  client: S3Client,
  bucket: string,
  source: string,
  target: string,
  options: CopyOptions,
): Promise<string | undefined> {
  const copySource = `${encodeKey(bucket)}/${encodeKey(source)}`;
  const limit = Math.min(options.singleCopyLimit ?? SINGLE_COPY_LIMIT, SINGLE_COPY_LIMIT);
  if (options.size <= limit) {
    const result = await client.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: target,
        CopySource: copySource,
        CopySourceIfMatch: options.ifMatch,
        MetadataDirective: 'COPY',
      }),
    );
    return result.CopyObjectResult?.ETag;
  }
  const partSize = Math.max(options.partSize ?? COPY_PART_SIZE, MIN_PART_SIZE, Math.ceil(options.size / MAX_PARTS));
  const ranges: { partNumber: number; range: string }[] = [];
  for (let start = 0, partNumber = 1; start < options.size; start += partSize, partNumber++) {
    ranges.push({ partNumber, range: `bytes=${start}-${Math.min(start + partSize, options.size) - 1}` });
  }
  const { UploadId } = await client.send(
    new CreateMultipartUploadCommand({ Bucket: bucket, Key: target, ContentType: 'application/octet-stream' }),
  );
  try {
    const parts = await mapLimit(ranges, COPY_CONCURRENCY, async ({ partNumber, range }) => {
      const result = await client.send(
        new UploadPartCopyCommand({
          Bucket: bucket,
          Key: target,
          UploadId,
          PartNumber: partNumber,
          CopySource: copySource,
          CopySourceRange: range,
          CopySourceIfMatch: options.ifMatch,
        }),
      );
      return { PartNumber: partNumber, ETag: result.CopyPartResult?.ETag };
    });
    const done = await client.send(
      new CompleteMultipartUploadCommand({ Bucket: bucket, Key: target, UploadId, MultipartUpload: { Parts: parts } }),
    );
    return done.ETag;
  } catch (error) {
    await client
      .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: target, UploadId }))
      .catch(() => undefined); // the bucket's AbortIncompleteMultipartUpload lifecycle rule is the backstop
    throw error;
  }
}

/** x-amz-copy-source is URL-encoded, `/` kept as the separator. */
function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}
