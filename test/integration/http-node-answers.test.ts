import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawExchange } from '../support/raw-socket.js';
import { startTestRelay, type TestRelay } from '../support/relay.js';

/**
 * Two requests Node answers itself, given the contract's error shape: an unknown Expect (Node's bare 417 with an
 * empty body) and CONNECT (with no 'connect' listener Node destroys the socket without an answer).
 */
let t: TestRelay;
beforeAll(async () => {
  t = await startTestRelay({}, { replay: false });
});
afterAll(async () => {
  await t?.close();
});

const raw = (payload: string): Promise<string> => rawExchange(t.url, payload);

describe('answers Node writes itself', () => {
  it('an unknown Expect gets a JSON error', async () => {
    const answer = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nConnection: close\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 4\d\d /);
    expect(answer.toLowerCase()).toContain('content-type: application/json'); // fails: bare 417
    expect(answer).toContain('"error":{"code":');
  });

  it('CONNECT gets a JSON error', async () => {
    const answer = await raw(`CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 4\d\d /); // fails: '' (socket destroyed)
    expect(answer).toContain('"error":{"code":');
  });
});
