import { createHash, randomBytes as nodeRandomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { concatBytes, fromUtf8, hexToBase64, toHex, utf8, utf8ByteLength } from '../../src/core/bytes.js';

// The web-standard byte helpers that replaced Buffer in the core (they run at the edge too), against Node's Buffer.
describe('core/bytes', () => {
  it('hexToBase64 gives what Buffer gives, for a SHA-256 and for edge values', () => {
    for (const bytes of [createHash('sha256').update('x').digest(), Buffer.alloc(0), Buffer.of(0, 255, 128, 1)]) {
      const hex = bytes.toString('hex');
      expect(hexToBase64(hex)).toBe(bytes.toString('base64'));
      expect(hexToBase64(hex.toUpperCase())).toBe(bytes.toString('base64'));
    }
  });

  it('toHex, utf8 and concatBytes agree with Buffer', () => {
    const bytes = new Uint8Array(nodeRandomBytes(97));
    expect(toHex(bytes)).toBe(Buffer.from(bytes).toString('hex'));
    const text = 'pâte 🍝 \u{1F600} end';
    expect(Buffer.from(utf8(text)).equals(Buffer.from(text, 'utf8'))).toBe(true);
    expect(utf8ByteLength(text)).toBe(Buffer.byteLength(text));
    expect(fromUtf8(utf8(text))).toBe(text);
    expect(Buffer.from(concatBytes([utf8('ab'), utf8('cd')], 4)).toString()).toBe('abcd');
  });
});
