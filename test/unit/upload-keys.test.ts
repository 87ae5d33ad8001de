import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { UploadKeys } from '../../src/api/upload-keys.js';

// What the key is: the first 16 bytes of HMAC-SHA-256("vfs-relay upload keys\0" + secret, id), base64url. Processes
// of one relay (and of different versions during a rolling deploy) must compute the same key from the same secret.
function expectedKey(secret: string, id: string): string {
  return createHmac('sha256', `vfs-relay upload keys\u0000${secret}`)
    .update(id)
    .digest()
    .subarray(0, 16)
    .toString('base64url');
}

describe('upload keys', () => {
  const ids = [
    '20261206T202045123Z-000001-abcdef',
    '20261206T202045123Z-000002-abcdef',
    '20300101T000000000Z-999999-zzzzzz',
    '',
  ];

  it('are HMAC-SHA-256 of the id under the admin token, for every id in turn (the keyed state is not used up)', () => {
    const keys = new UploadKeys('admin-token-0123456789');
    for (let round = 0; round < 2; round++) {
      for (const id of ids) {
        expect(keys.keyFor(id)).toBe(expectedKey('admin-token-0123456789', id));
        expect(keys.keyFor(id)).toMatch(/^[A-Za-z0-9_-]{22}$/);
      }
    }
    expect(new UploadKeys('another-admin-token').keyFor(ids[0]!)).toBe(expectedKey('another-admin-token', ids[0]!));
    expect(new UploadKeys('another-admin-token').keyFor(ids[0]!)).not.toBe(keys.keyFor(ids[0]!));
  });

  it("match only the id's own key", () => {
    const keys = new UploadKeys('admin-token-0123456789');
    const key = keys.keyFor(ids[0]!);
    expect(keys.matches(ids[0]!, key)).toBe(true);
    expect(keys.matches(ids[1]!, key)).toBe(false);
    expect(keys.matches(ids[0]!, undefined)).toBe(false);
    expect(keys.matches(ids[0]!, `${key}A`)).toBe(false);
    expect(keys.matches(ids[0]!, key.slice(1))).toBe(false);
    const flipped = `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`;
    expect(keys.matches(ids[0]!, flipped)).toBe(false);
  });

  it("without an admin token are random per process: two relays never accept each other's keys", () => {
    const a = new UploadKeys(undefined);
    const b = new UploadKeys(undefined);
    expect(a.matches(ids[0]!, a.keyFor(ids[0]!))).toBe(true);
    expect(b.matches(ids[0]!, a.keyFor(ids[0]!))).toBe(false);
  });
});
