import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawExchange } from '../support/raw-socket.js';
import { ADMIN_TOKEN, jsonHeaders, NODE_A_TOKEN, startTestRelay, type TestRelay } from '../support/relay.js';

/**
 * A request whose head is parsed but whose body framing llhttp refuses afterwards (a Transfer-Encoding that is not
 * plain chunked, a chunk size that is not hex): Node has handed the request to its route already, so the server
 * refuses such a coding before any route runs, and answers broken chunk framing 400 MALFORMED_HTTP through the
 * pending response (it destroyed the socket without a word while the route's effect happened).
 */
let t: TestRelay;
beforeAll(async () => {
  t = await startTestRelay({ peers: [{ name: 'server2', url: 'http://127.0.0.1:9/' }] }, { replay: false });
});
afterAll(async () => {
  await t?.close();
});

const raw = (payload: string): Promise<string> => rawExchange(t.url, payload);

const host = () => `Host: ${new URL(t.url).host}\r\n`;

describe('malformed body framing', () => {
  it('answers 400 MALFORMED_HTTP to a chunk size that is not hex', async () => {
    const answer = await raw(
      `POST /v1/changes HTTP/1.1\r\n${host()}Authorization: Bearer ${NODE_A_TOKEN}\r\n` +
        'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 400 /); // fails: '' (connection closed, nothing written)
    expect(answer).toContain('"code":"MALFORMED_HTTP"');
  });

  it('answers 400 MALFORMED_HTTP to Transfer-Encoding: gzip, and does not act on the request', async () => {
    const made = await fetch(`${t.url}/v1/changes`, {
      method: 'POST',
      headers: jsonHeaders(NODE_A_TOKEN),
      body: JSON.stringify({ action: 'makedir', path: '/user_homes/review-te' }),
    });
    const { id } = (await made.json()) as { id: string };
    expect(made.status).toBe(202);
    expect(
      (await fetch(`${t.url}/v1/changes/${id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status,
    ).toBe(200);
    const answer = await raw(
      `DELETE /v1/changes/${id} HTTP/1.1\r\n${host()}Authorization: Bearer ${ADMIN_TOKEN}\r\n` +
        'Transfer-Encoding: gzip\r\n\r\n',
    );
    const after = await fetch(`${t.url}/v1/changes/${id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect({ answer: answer.slice(0, 15), after: after.status }).toEqual({ answer: 'HTTP/1.1 400 Ba', after: 200 });
  });
});
