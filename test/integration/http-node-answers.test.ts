import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRelay, type TestRelay } from '../support/relay.js';

/**
 * two requests Node answers itself, outside the contract's error shape: an unknown Expect (Node's bare
 * 417 with an empty chunked body, no JSON) and CONNECT (no 'connect' listener: the socket is destroyed, no answer).
 */
let t: TestRelay;
beforeAll(async () => {
  t = await startTestRelay({}, { replay: false });
});
afterAll(async () => {
  await t?.close();
});

function raw(payload: string): Promise<string> {
  const { hostname, port } = new URL(t.url);
  return new Promise((resolve) => {
    let text = '';
    const s = connect({ host: hostname, port: Number(port) });
    const timer = setTimeout(() => s.destroy(), 3000);
    s.on('data', (d) => {
      text += d.toString('latin1');
    });
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
    s.write(payload);
  });
}

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
