import type { Readable } from 'node:stream';
import { PayloadTooLargeError } from './errors.js';

/**
 * A whole (small) body in memory, refused (PayloadTooLargeError) as soon as more than `limit` bytes arrive. The
 * stream is destroyed then; callers hand in a stream whose destruction cannot hurt the answer (see
 * api/request-body.ts).
 */
export async function receiveAtMost(body: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      body.destroy();
      throw new PayloadTooLargeError(`the body is larger than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}
