import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { hexToBase64 } from '../../core/bytes.js';

/** Where and how a node sends an upload's body (the shape of `upload` in `POST /v1/changes`' answer). */
export interface PresignedUpload {
  method: 'PUT';
  url: string;
  /** Exactly the headers the client must send with the body (they are signed: others may not replace them). */
  headers: Record<string, string>;
}

/**
 * How long a presigned upload URL stays valid, by default: long enough for a node to start its PUT (S3 checks the
 * expiry when a request starts, so a long upload that started in time completes), short enough that the URL does
 * not stay a way to replace the body after the commit. Replay reads only the version verified at commit anyway.
 */
export const DEFAULT_UPLOAD_URL_SECONDS = 5 * 60;
/** S3's own limit for SigV4 presigned URLs. */
const MAX_UPLOAD_URL_SECONDS = 7 * 24 * 3600;

export interface PresignOptions {
  /** Exact body length: signed as Content-Length, so S3 refuses any other length. */
  size: number;
  /** Lowercase hex SHA-256 of the body: signed as x-amz-checksum-sha256, so S3 refuses any other body. */
  sha256?: string;
  expiresIn?: number;
}

/**
 * A presigned `PUT` of one object, binding the body's length and (when known) its SHA-256. Real S3 verifies both
 * and refuses the upload otherwise; emulators may not, so the relay still verifies the body when it commits.
 *
 * The SHA-256 stays a signed header (not hoisted into the query string) so the client must send it and S3 checks
 * the body against it; `x-amz-sdk-checksum-algorithm` goes into the query string (signed there), so the client
 * need not send it.
 */
export async function presignPut(
  client: S3Client,
  bucket: string,
  key: string,
  options: PresignOptions,
): Promise<PresignedUpload> {
  if (!Number.isSafeInteger(options.size) || options.size < 0) {
    throw new Error(`cannot presign an upload of ${options.size} bytes: the size must be a non-negative integer`);
  }
  const expiresIn = options.expiresIn ?? DEFAULT_UPLOAD_URL_SECONDS;
  if (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > MAX_UPLOAD_URL_SECONDS) {
    throw new Error(`upload URLs expire after 1 to ${MAX_UPLOAD_URL_SECONDS} seconds, not ${expiresIn}`);
  }
  let checksum: string | undefined;
  if (options.sha256 !== undefined) {
    if (!/^[0-9a-fA-F]{64}$/.test(options.sha256)) throw new Error('sha256 must be 64 hexadecimal digits');
    checksum = hexToBase64(options.sha256);
  }
  const command = new PutObjectCommand({
    Bucket: bucket,
    Key: key,
    ContentLength: options.size,
    ...(checksum !== undefined && { ChecksumSHA256: checksum, ChecksumAlgorithm: 'SHA256' as const }),
  });
  if (checksum === undefined) {
    // Without a declared checksum the SDK would sign the CRC32 of the empty presign request (AAAAAA==), which S3
    // then enforces against the real body: every upload would fail. Drop it; the relay verifies at commit.
    command.middlewareStack.add((next) => async (args) => next({ ...args, request: withoutChecksum(args.request) }), {
      step: 'build',
      priority: 'low',
      name: 'vfsRelayPresignWithoutChecksum',
    });
  }
  const url = await getSignedUrl(client, command, {
    expiresIn,
    unhoistableHeaders: new Set(['x-amz-checksum-sha256']),
  });
  const headers: Record<string, string> = { 'content-length': String(options.size) };
  if (checksum !== undefined) headers['x-amz-checksum-sha256'] = checksum;
  return { method: 'PUT', url, headers };
}

function withoutChecksum<R>(request: R): R {
  const headers = (request as { headers?: Record<string, string> }).headers;
  if (headers) {
    for (const name of Object.keys(headers)) {
      const lower = name.toLowerCase();
      if (lower.startsWith('x-amz-checksum-') || lower === 'x-amz-sdk-checksum-algorithm') delete headers[name];
    }
  }
  return request;
}
