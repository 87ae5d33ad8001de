import { Readable } from 'node:stream';
import type { ByteStream } from '../core/bytes.js';

/**
 * Where the Node adapters meet the core's web-standard bytes: views, never copies. A Buffer is a Uint8Array, so
 * only the way back needs converting.
 */

/** The same bytes as a Buffer (shares the memory). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A byte stream as a Node Readable: itself when it already is one. */
export function asReadable(stream: ByteStream): Readable {
  return stream instanceof Readable ? stream : Readable.from(stream, { objectMode: false });
}
