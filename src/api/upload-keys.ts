/** 128 bits: far beyond guessing, and short enough for a URL (22 base64url characters). */
const KEY_BYTES = 16;
const encoder = new TextEncoder();

/**
 * The key that makes a relay upload URL (`PUT /v1/changes/{id}/body?key=…`) unguessable. Change ids are
 * documented and sortable (`YYYYMMDDTHHMMSSmmmZ-NNNNNN-rrrrrr`: 24 random bits), so the URL carries 128 more:
 * the first half of HMAC-SHA-256(secret, id). Nothing is stored: every process that shares the secret (several
 * cloud processes share the admin token) computes and checks the same key, and a key for one change says nothing
 * about another's. Web Crypto only, so the API runs unchanged at the edge.
 */
export class UploadKeys {
  private readonly hmac: ReturnType<typeof crypto.subtle.importKey>;

  /** `secret`: the admin token (shared by every process of one relay); without one, random per process. */
  constructor(secret: string | undefined) {
    const material = secret
      ? encoder.encode(`vfs-relay upload keys\u0000${secret}`)
      : crypto.getRandomValues(new Uint8Array(32));
    this.hmac = crypto.subtle.importKey('raw', material, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  }

  async keyFor(id: string): Promise<string> {
    const mac = new Uint8Array(await crypto.subtle.sign('HMAC', await this.hmac, encoder.encode(id)));
    return base64url(mac.subarray(0, KEY_BYTES));
  }

  /** Compares in constant time (for keys of the right length; the length itself is public). */
  async matches(id: string, presented: string | undefined): Promise<boolean> {
    const expected = await this.keyFor(id);
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
