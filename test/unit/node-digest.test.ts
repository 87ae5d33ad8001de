import { describe, expect, it } from 'vitest';
import { nodeSha256Hex } from '../../src/adapters/node-digest.js';
import { sha256Hex } from '../../src/core/digest.js';

describe('nodeSha256Hex', () => {
  it('gives what Web Crypto gives, for empty, small and sliced bytes', async () => {
    const big = new Uint8Array(70_000).map((_, i) => i % 251);
    for (const bytes of [new Uint8Array(0), new TextEncoder().encode('hello'), big, big.subarray(3, 65_539)]) {
      expect(nodeSha256Hex(bytes)).toBe(await sha256Hex(bytes));
    }
  });
});
