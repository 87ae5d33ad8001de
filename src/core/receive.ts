import { type ByteStream, concatBytes } from './bytes.js';
import { PayloadTooLargeError } from './errors.js';

/**
 * A whole (small) body in memory, refused (PayloadTooLargeError) as soon as more than `limit` bytes arrive. The
 * stream is released then (leaving the loop closes it); callers hand in a stream whose closing cannot hurt the
 * answer (see api/request-body.ts).
 */
export async function receiveAtMost(body: ByteStream, limit: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) throw new PayloadTooLargeError(`the body is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return concatBytes(chunks, size);
}
