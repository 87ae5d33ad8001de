import { sha256 } from '@noble/hashes/sha2.js';
import { toHex, utf8 } from './bytes.js';

/**
 * SHA-256 without Node's crypto: Web Crypto for whole buffers (native, but only async and never incremental), and
 * @noble/hashes where the digest must be synchronous or grow chunk by chunk as a body streams through.
 */

/** Hex SHA-256 of bytes already in memory. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)));
}

/** SHA-256 of a short text, synchronously (ids, tokens). */
export function sha256OfText(text: string): Uint8Array {
  return sha256(utf8(text));
}

/** A SHA-256 fed chunk by chunk, for bodies that stream through. */
export interface StreamingSha256 {
  update(chunk: Uint8Array): void;
  /** Hex digest; call once. */
  hex(): string;
}

export function streamingSha256(): StreamingSha256 {
  const hash = sha256.create();
  return {
    update: (chunk) => void hash.update(chunk),
    hex: () => toHex(hash.digest()),
  };
}
