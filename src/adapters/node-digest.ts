import { createHash } from 'node:crypto';

/** Hex SHA-256 with node:crypto: in place, synchronous (see IntakeDeps.sha256 for why Node prefers it). */
export function nodeSha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
