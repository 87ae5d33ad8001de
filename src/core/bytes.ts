/**
 * Bytes as every runtime has them (Uint8Array, TextEncoder, async iteration): the core and the API use no Node
 * Buffer, so the same code serves on Node and at the edge (workerd, Deno, Bun).
 */

/**
 * Bytes in transit, streamed. A web `ReadableStream<Uint8Array>` is one (async iterable on Node, workerd, Deno and
 * Bun), and so is a Node `Readable` of Buffers: each runtime hands in its own stream without converting it.
 */
export type ByteStream = AsyncIterable<Uint8Array>;

const encoder = new TextEncoder();
// Keeps a byte-order mark as text, as Buffer#toString did.
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

export function fromUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** The UTF-8 length of `text` without encoding it (lone surrogates count 3, as TextEncoder writes U+FFFD). */
export function utf8ByteLength(text: string): number {
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) length += 1;
    else if (unit < 0x800) length += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        length += 4;
        i++;
      } else length += 3;
    } else length += 3;
  }
  return length;
}

export function concatBytes(chunks: readonly Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

export function toHex(bytes: Uint8Array): string {
  let hex = '';
  for (const byte of bytes) hex += byte.toString(16).padStart(2, '0');
  return hex;
}

/** Hexadecimal digits (an even number of them, checked by the caller) as base64: `btoa` is in every runtime. */
export function hexToBase64(hex: string): string {
  let binary = '';
  for (let i = 0; i < hex.length; i += 2) binary += String.fromCharCode(Number.parseInt(hex.slice(i, i + 2), 16));
  return btoa(binary);
}

/** Random bytes from the runtime's CSPRNG (Web Crypto). */
export function randomBytes(size: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(size));
}

/** Compares in time that depends only on the length, never on where the first difference is. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}

/**
 * Lets go of a stream nobody will read: a Node stream is destroyed, a web stream cancelled, anything else is
 * asked to return (which closes what it holds).
 */
export function releaseStream(stream: ByteStream): void {
  const node = stream as { destroy?: () => void };
  const web = stream as { cancel?: () => Promise<void> };
  if (typeof node.destroy === 'function') node.destroy();
  else if (typeof web.cancel === 'function') web.cancel().catch(() => {});
  else
    stream[Symbol.asyncIterator]()
      .return?.()
      ?.catch(() => {});
}

/** Bytes in memory as a stream of one chunk. */
export async function* oneChunk(bytes: Uint8Array): ByteStream {
  yield bytes;
}
