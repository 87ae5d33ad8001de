/** What the AWS SDK attaches to a service error. */
interface ServiceErrorShape {
  name?: string;
  $metadata?: { httpStatusCode?: number };
}

function shape(error: unknown): ServiceErrorShape {
  return typeof error === 'object' && error !== null ? (error as ServiceErrorShape) : {};
}

/**
 * The object (not the bucket) does not exist. A missing bucket must not read as an empty journal, so
 * `NoSuchBucket` is not "not found" here (HeadObject cannot tell the two apart: it has no error body).
 */
export function isMissingObject(error: unknown): boolean {
  const { name, $metadata } = shape(error);
  if (name === 'NoSuchBucket') return false;
  return name === 'NoSuchKey' || name === 'NotFound' || $metadata?.httpStatusCode === 404;
}

/** A conditional request (If-Match, If-None-Match, x-amz-copy-source-if-match) whose condition failed. */
export function isPreconditionFailed(error: unknown): boolean {
  const { name, $metadata } = shape(error);
  return name === 'PreconditionFailed' || $metadata?.httpStatusCode === 412;
}

/** A conditional write that raced another write of the same key (S3 answers 409; retry). */
export function isConditionalConflict(error: unknown): boolean {
  const { name, $metadata } = shape(error);
  return name === 'ConditionalRequestConflict' || $metadata?.httpStatusCode === 409;
}

/**
 * Maps `items` through `task`, at most `limit` at a time, keeping the input order in the result. After a failure
 * no new task starts; the first error is thrown once the running ones have settled.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const at = next++;
      try {
        results[at] = await task(items[at]!);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const settled = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const failure = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;
  return results;
}
