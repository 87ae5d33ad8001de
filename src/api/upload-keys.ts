import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';

/** 128 bits: far beyond guessing, and short enough for a URL (22 base64url characters). */
const KEY_BYTES = 16;
const encoder = new TextEncoder();

type KeyedHmac = ReturnType<typeof hmac.create>;

/**
 * The key that makes a relay upload URL (`PUT /v1/changes/{id}/body?key=…`) unguessable. Change ids are
 * documented and sortable (`YYYYMMDDTHHMMSSmmmZ-NNNNNN-rrrrrr`: 24 random bits), so the URL carries 128 more:
 * the first half of HMAC-SHA-256(secret, id). Nothing is stored: every process that shares the secret (several
 * cloud processes share the admin token) computes and checks the same key, and a key for one change says nothing
 * about another's.
 *
 * Synchronous, with @noble/hashes (runs unchanged at the edge): the HMAC keyed once, and copied for each id, costs
 * ~4 µs of CPU per key; Web Crypto's `sign`, which this used before, ~25 µs on Node (a thread-pool job and a
 * promise for 32 bytes), twice per three-request upload.
 */
export class UploadKeys {
  private readonly keyed: KeyedHmac;

  /** `secret`: the admin token (shared by every process of one relay); without one, random per process. */
  constructor(secret: string | undefined) {
    const material = secret
      ? encoder.encode(`vfs-relay upload keys\u0000${secret}`)
      : crypto.getRandomValues(new Uint8Array(32));
    this.keyed = hmac.create(sha256, material);
    material.fill(0);
  }

  keyFor(id: string): string {
    const mac = this.keyed.clone().update(encoder.encode(id)).digest();
    return base64url(mac.subarray(0, KEY_BYTES));
  }

  /** Compares in constant time (for keys of the right length; the length itself is public). */
  matches(id: string, presented: string | undefined): boolean {
    const expected = this.keyFor(id);
    if (presented === undefined || presented.length !== expected.length) return false;
    let difference = 0;
    for (let i = 0; i < expected.length; i++) difference |= expected.charCodeAt(i) ^ presented.charCodeAt(i);
    return difference === 0;
  }
}

function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
