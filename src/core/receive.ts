import { type ByteStream, concatBytes } from './bytes.js';
import { PayloadTooLargeError } from './errors.js';

/**
 * A whole (small) body in memory, refused (PayloadTooLargeError) as soon as more than `limit` bytes arrive. The
 * stream is released then (leaving the loop closes it); callers hand in a stream whose closing cannot hurt the
 * answer (see api/request-body.ts).
 */
export async function receiveAtMost(body: ByteStream, limit: number): Promise<Uint8Array> {
  const whole = body as ByteStream & Partial<WholeBody>;
  return typeof whole.readAtMost === 'function' ? whole.readAtMost(limit) : receiveChunks(body, limit);
}

/**
 * A body that can hand itself over whole, at less cost than chunk by chunk (the Node server's request bodies):
 * same contract as receiveAtMost.
 */
export interface WholeBody {
  readAtMost(limit: number): Promise<Uint8Array>;
}

/** receiveAtMost chunk by chunk, for any stream. */
export async function receiveChunks(body: ByteStream, limit: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) throw bodyTooLarge(limit);
    chunks.push(chunk);
  }
  return concatBytes(chunks, size);
}

/** The refusal of a body past `limit` bytes, however it was read. */
export function bodyTooLarge(limit: number): PayloadTooLargeError {
  return new PayloadTooLargeError(`the body is larger than ${limit} bytes`);
}
