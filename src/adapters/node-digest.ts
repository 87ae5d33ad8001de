import { createHash } from 'node:crypto';

/** Hex SHA-256 with node:crypto: in place, synchronous (see IntakeDeps.sha256 for why Node prefers it). */
export function nodeSha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** SHA-256 of a text's UTF-8 bytes with node:crypto: the same bytes as core/digest.ts's sha256OfText, natively. */
export function nodeSha256OfText(text: string): Uint8Array {
  return createHash('sha256').update(text, 'utf8').digest();
}
