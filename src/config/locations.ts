import { RelayError } from '../core/errors.js';

/**
 * The rules for the two cloud locations a config names — the `s3://bucket/prefix` journal and the SQS FIFO queue
 * URL. The config schema applies them as refinements (so a mistake names its key); the S3 and SQS adapters parse
 * with the same functions.
 */

/** An `s3://` journal URL or an SQS queue URL that S3, SQS or the journal layout could not use. */
export class BadLocationError extends RelayError {
  readonly code = 'BAD_LOCATION';
}

/** Where a journal lives in S3: `s3://<bucket>/<prefix>`. */
export interface S3Location {
  bucket: string;
  /** Without leading or trailing slashes; '' for the bucket's root. */
  prefix: string;
}

/** S3 bucket naming rules (general purpose buckets): 3–63 of a-z 0-9 . -, starting and ending alphanumeric. */
const BUCKET_PATTERN = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Parses the `journal` setting `s3://bucket/prefix` (prefix optional, any depth). Refuses what S3 or the journal
 * layout could not hold: a bad bucket name, empty, `.` or `..` prefix segments, control characters.
 */
export function parseS3Url(url: string): S3Location {
  const match = /^s3:\/\/([^/]*)(?:\/(.*))?$/.exec(url);
  if (!match) throw new BadLocationError(`"${url}" is not an s3://bucket/prefix URL`);
  const bucket = match[1]!;
  if (!BUCKET_PATTERN.test(bucket) || bucket.includes('..')) {
    throw new BadLocationError(
      `"${bucket}" is not a valid S3 bucket name (3-63 characters: a-z 0-9 . -, starting and ending with a letter or digit)`,
    );
  }
  return { bucket, prefix: normalizeS3Prefix(match[2] ?? '') };
}

export function normalizeS3Prefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  if (trimmed === '') return '';
  const segments = trimmed.split('/');
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') {
      throw new BadLocationError(`the S3 journal prefix "${prefix}" has an empty, "." or ".." segment`);
    }
    if (/[\u0000-\u001f\u007f]/.test(segment)) {
      throw new BadLocationError(`the S3 journal prefix "${prefix}" contains control characters`);
    }
  }
  return trimmed;
}

/** Where an SQS queue URL points: `https://sqs.<region>.amazonaws.com/<account>/<name>` (or a local endpoint). */
export interface QueueAddress {
  url: string;
  region: string | undefined;
  account: string;
  name: string;
  /** `arn:aws:sqs:<region>:<account>:<name>`, as Lambda puts it into SQS events. */
  arn: string;
}

export function parseQueueUrl(url: string, fallbackRegion?: string): QueueAddress {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new BadLocationError(`"${url}" is not an SQS queue URL`);
  }
  const [account, name, ...rest] = parsed.pathname.split('/').filter(Boolean);
  if (!account || !name || rest.length > 0) {
    throw new BadLocationError(`"${url}" is not an SQS queue URL (…/<account>/<name>)`);
  }
  if (!name.endsWith('.fifo')) {
    throw new BadLocationError(`an SQS FIFO queue URL (the name ends in .fifo), not the queue ${name}`);
  }
  const region = /^sqs\.([a-z0-9-]+)\.amazonaws\.com/.exec(parsed.hostname)?.[1] ?? fallbackRegion;
  return { url, region, account, name, arn: `arn:aws:sqs:${region ?? 'us-east-1'}:${account}:${name}` };
}

/** The reason `parse(value)` refuses the value, or undefined when it takes it. */
export function problemOf(parse: (value: string) => unknown, value: string): string | undefined {
  try {
    parse(value);
    return undefined;
  } catch (error) {
    if (error instanceof BadLocationError) return error.message;
    throw error;
  }
}
