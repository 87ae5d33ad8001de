import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, auth, jsonHeaders, NODE_A_TOKEN, startTestRelay, type TestRelay } from '../support/relay.js';

// A body PUT again for the same upload (a node's retry) that the relay refuses (413: longer than declared) dropped
// the earlier body kept in memory but not the digest taken of it: the commit checked that digest and then journaled
// whatever body was left — none (500 INTERNAL, and a node that retries 5xx stuck until the upload expired) or an
// older one on disk, recorded under the sha256 of another (found by a review). The digest now goes with its body.

const SIZE = 256 * 1024;
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

describe('a body PUT again and refused', () => {
  let t: TestRelay;
  beforeAll(async () => {
    t = await startTestRelay({ peers: [{ name: 'server2', url: 'http://127.0.0.1:9/' }] }, { replay: false });
  });
  afterAll(() => t?.close());

  async function open(token: string, path: string, size: number, sha256?: string) {
    const res = await fetch(`${t.url}/v1/changes`, {
      method: 'POST',
      headers: jsonHeaders(token),
      body: JSON.stringify({ action: 'upload', path, size, ...(sha256 ? { sha256 } : {}) }),
    });
    expect(res.status).toBe(201);
    return (await res.json()) as { id: string; upload: { url: string } };
  }
  const put = (url: string, token: string, body: Buffer | string) =>
    fetch(url, { method: 'PUT', headers: auth(token), body }).then((res) => res.status);
  const commit = async (id: string) => {
    const res = await fetch(`${t.url}/v1/changes/${id}/commit`, { method: 'POST', headers: auth(NODE_A_TOKEN) });
    return { status: res.status, body: (await res.json()) as { error?: { code: string } } };
  };

  it('with no body left, the commit answers 409 BODY_MISSING, not 500', async () => {
    const { id, upload } = await open(NODE_A_TOKEN, '/user_homes/john/staged.txt', 5);
    expect(await put(upload.url, NODE_A_TOKEN, 'hello')).toBe(200);
    expect(await put(upload.url, NODE_A_TOKEN, 'hello world, too long')).toBe(413);
    expect(await commit(id)).toMatchObject({ status: 409, body: { error: { code: 'BODY_MISSING' } } });
  });

  it('never journals an older body under the sha256 of the one refused after it', async () => {
    const a = Buffer.alloc(SIZE, 0x61);
    const b = Buffer.alloc(SIZE, 0x62);
    const target = await open(NODE_A_TOKEN, '/user_homes/john/target.bin', SIZE, sha(b));
    // The relay's memory for small bodies (64 MiB) filled by uploads nobody commits: body A goes to disk.
    const fillers: string[] = [];
    for (let i = 0; i < 256; i++) {
      const f = await open(ADMIN_TOKEN, `/user_homes/fill/${i}.bin`, SIZE);
      expect(await put(f.upload.url, ADMIN_TOKEN, Buffer.alloc(SIZE, 1))).toBe(200);
      fillers.push(f.id);
    }
    expect(await put(target.upload.url, NODE_A_TOKEN, a)).toBe(200);
    // Room again: body B (the declared one) is kept in memory; then a third PUT is refused, which drops B.
    const abandoned = await fetch(`${t.url}/v1/changes/${fillers[0]}/abandon`, {
      method: 'POST',
      headers: auth(ADMIN_TOKEN),
    });
    expect(abandoned.status).toBe(200);
    expect(await put(target.upload.url, NODE_A_TOKEN, b)).toBe(200);
    expect(await put(target.upload.url, NODE_A_TOKEN, Buffer.alloc(SIZE + 1, 0x63))).toBe(413);
    // A is what is left: it does not match the declared sha256 (B's), and nothing is journaled.
    expect(await commit(target.id)).toMatchObject({ status: 422, body: { error: { code: 'CHECKSUM_MISMATCH' } } });
    const shown = await fetch(`${t.url}/v1/changes/${target.id}`, { headers: auth(ADMIN_TOKEN) });
    expect(((await shown.json()) as { status: string }).status).toBe('AWAITING_BODY');
  }, 60_000);
});
