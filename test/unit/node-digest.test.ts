import { describe, expect, it } from 'vitest';
import { nodeSha256Hex, nodeSha256OfText } from '../../src/adapters/node-digest.js';
import { tokenResolver } from '../../src/api/auth.js';
import { toHex } from '../../src/core/bytes.js';
import { sha256Hex, sha256OfText } from '../../src/core/digest.js';

describe('nodeSha256Hex', () => {
  it('gives what Web Crypto gives, for empty, small and sliced bytes', async () => {
    const big = new Uint8Array(70_000).map((_, i) => i % 251);
    for (const bytes of [new Uint8Array(0), new TextEncoder().encode('hello'), big, big.subarray(3, 65_539)]) {
      expect(nodeSha256Hex(bytes)).toBe(await sha256Hex(bytes));
    }
  });
});

describe('nodeSha256OfText', () => {
  it('gives what @noble/hashes gives for the same text: ASCII, multi-byte, astral and a lone surrogate', () => {
    for (const text of ['', 'bench-node-token', 'äöü€', '🦊 token', 'broken \ud800 pair', 'x'.repeat(10_000)]) {
      expect(toHex(nodeSha256OfText(text))).toBe(toHex(sha256OfText(text)));
    }
  });

  it('resolves the same callers as the default digest when a token table uses it', () => {
    const table = { adminToken: 'admin-secret', nodeTokens: { a: 'token-a', b: 'token-b' } };
    const seen: string[] = [];
    const native = tokenResolver({
      ...table,
      digest: (text) => {
        seen.push(text);
        return nodeSha256OfText(text);
      },
    });
    const portable = tokenResolver(table);
    for (const token of ['admin-secret', 'token-a', 'token-b', 'token-c', '', 'token-a ']) {
      expect(native(token)).toEqual(portable(token));
    }
    // The table's digest is the one used: the three known tokens at start, then each presented one.
    expect(seen.slice(0, 3)).toEqual(['admin-secret', 'token-a', 'token-b']);
    expect(seen).toHaveLength(9);
  });
});
