// A valid request followed on its connection by a malformed one (pipelined, or bytes past its Content-Length): the
// framing error is the second one's, so the first one's pending answer must not be the 400 (its route runs on and
// journals the change: its client would be told "refused" for a change that was taken).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { rawExchange } from '../support/raw-socket.js';
import { ADMIN_TOKEN, NODE_A_TOKEN, startTestRelay, type TestRelay } from '../support/relay.js';

let t: TestRelay;
beforeAll(async () => {
  t = await startTestRelay({ peers: [{ name: 'server2', url: 'http://127.0.0.1:9/' }] }, { replay: false });
});
afterAll(async () => {
  await t?.close();
});

const raw = (payload: string): Promise<string> => rawExchange(t.url, payload);

it('does not answer a valid request 400 because the next one on its connection is malformed', async () => {
  const host = new URL(t.url).host;
  const body = JSON.stringify({ action: 'makedir', path: '/user_homes/pipelined' });
  const answer = await raw(
    `POST /v1/changes HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${NODE_A_TOKEN}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}` +
      'G@T / HTTP/1.1\r\n\r\n',
  );
  await new Promise((r) => setTimeout(r, 300)); // the route finishes journaling
  const listed = await fetch(`${t.url}/v1/changes`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  const journaled = JSON.stringify(await listed.json()).includes('/user_homes/pipelined');
  // HEAD: { first: 'HTTP/1.1 400 Bad Request', journaled: true } — refused by its answer, taken by the relay.
  expect({ first: answer.split('\r\n')[0], journaled }).not.toEqual({
    first: 'HTTP/1.1 400 Bad Request',
    journaled: true,
  });
});
