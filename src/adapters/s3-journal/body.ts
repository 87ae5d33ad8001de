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
import { type ByteStream, releaseStream } from '../../core/bytes.js';
import { streamingSha256 } from '../../core/digest.js';
import { BodyChangedError, JournalStorageError, PayloadTooLargeError } from '../../core/errors.js';
import type { BodyDigest } from '../../core/journal.js';
import { isMissingObject, isPreconditionFailed, mapLimit } from './util.js';

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
  body: ByteStream,
  maxBytes: number,
): Promise<StoredDigest> {
  const hash = streamingSha256();
  let size = 0;
  async function* metered(): ByteStream {
    for await (const chunk of body) {
      size += chunk.length;
      if (size > maxBytes) throw new PayloadTooLargeError(`the body is larger than ${maxBytes} bytes`);
      hash.update(chunk);
      yield chunk;
    }
  }
  const meter = webStream(metered());
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
    await meter.cancel().catch(() => {}); // closes the sender's stream too (a generator's finally)
    releaseStream(body);
    throw error;
  }
  return { size, sha256: hash.hex(), etag: result.ETag };
}

/**
 * A web ReadableStream over an async iterable, pulled as the reader asks (what lib-storage takes on every runtime;
 * ReadableStream.from is not everywhere yet). Cancelling it returns the iterable.
 */
function webStream(source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const iterator = source[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await iterator.next();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel() {
      await iterator.return?.();
    },
  });
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
  const hash = streamingSha256();
  let size = 0;
  for await (const chunk of response.Body as ByteStream) {
    size += chunk.length;
    hash.update(chunk);
  }
  if (response.ContentLength !== undefined && size !== response.ContentLength) {
    throw new JournalStorageError(`s3://${bucket}/${key}: read ${size} of ${response.ContentLength} bytes`);
  }
  return { size, sha256: hash.hex(), etag: response.ETag };
}

/** What replay knows of the body verified at commit (from the entry's config.XML). */
export interface BodyPin {
  /** The ETag recorded at commit: only that version is read (GetObject If-Match). */
  etag?: string;
  size?: number;
  sha256?: string;
}

/**
 * Opens a body for replay, exactly as it was verified at commit. With a pinned ETag, S3 hands out that version or
 * nothing (412: BodyChangedError, before a byte reaches the peer). Without one (entries committed by an older
 * relay), the stream is checked against the entry's size and SHA-256 on the way, and the last chunk is held back
 * until the check passes: a replaced body errors the stream before the peer has the whole body, so a PUT with
 * the declared Content-Length can never complete with it.
 */
export async function readPinnedBody(
  client: S3Client,
  bucket: string,
  key: string,
  pin: BodyPin,
  what: string,
): Promise<ByteStream> {
  let response: GetObjectCommandOutput;
  try {
    response = await client.send(
      new GetObjectCommand({ Bucket: bucket, Key: key, ...(pin.etag !== undefined && { IfMatch: pin.etag }) }),
    );
  } catch (error) {
    if (isPreconditionFailed(error)) {
      throw new BodyChangedError(
        `${what} was replaced after it was verified at commit (its ETag is no longer ${pin.etag}): it is not ` +
          'replayed; skip the change and have the node send the file again',
      );
    }
    throw error;
  }
  const body = response.Body as ByteStream;
  if (pin.etag !== undefined || pin.size === undefined || pin.sha256 === undefined) return body;
  return verifyingStream(body, pin.size, pin.sha256, (found) => {
    return new BodyChangedError(
      `${what} is not the body verified at commit (${found}): it is not replayed; skip the change and have the ` +
        'node send the file again',
    );
  });
}

/** Passes `source` on, checking its length and SHA-256; holds the last chunk until the check is done. */
async function* verifyingStream(
  source: ByteStream,
  size: number,
  sha256: string,
  mismatch: (found: string) => Error,
): ByteStream {
  const hash = streamingSha256();
  let seen = 0;
  let held: Uint8Array | undefined;
  // Leaving the loop (an error here, or the reader giving up) closes `source`.
  for await (const chunk of source) {
    seen += chunk.length;
    if (seen > size) throw mismatch(`more than ${size} bytes`);
    if (held) {
      hash.update(held);
      yield held;
    }
    held = chunk;
  }
  if (held) hash.update(held);
  if (seen !== size) throw mismatch(`${seen} bytes instead of ${size}`);
  const found = hash.hex();
  if (found !== sha256) throw mismatch(`SHA-256 ${found}`);
  if (held) yield held;
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
        // Not the source's tags: a parked lane's body carries `vfs-relay-parked`, which must not reach a lane
        // whose entry is PENDING (the retention rule would expire it).
        TaggingDirective: 'REPLACE',
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
