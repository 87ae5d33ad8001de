import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_A_TOKEN, startTestRelay, type TestRelay } from '../support/relay.js';

// A relay of its own: the change this leaves AWAITING_BODY must not show up in other tests' listings.
describe('request bodies nobody reads yet', () => {
  let t: TestRelay;
  beforeAll(async () => {
    t = await startTestRelay({ peers: [{ name: 'server2', url: 'http://127.0.0.1:9/' }] }, { replay: false });
  });
  afterAll(() => t.close());

  const post = (path: string, body: unknown) =>
    fetch(`${t.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${NODE_A_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('stays up when a client gives up on a body that waits its turn', async () => {
    const size = 3 * 1024 * 1024;
    const res = await post('/v1/changes', { action: 'upload', path: '/user_homes/john/waiting.bin', size });
    const { upload } = (await res.json()) as { upload: { url: string } };
    const { port } = new URL(t.url);
    const target = new URL(upload.url);
    const open = (sent: number) => {
      const socket = connect(Number(port), '127.0.0.1');
      socket.on('error', () => {});
      socket.write(
        `PUT ${target.pathname}${target.search} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${NODE_A_TOKEN}\r\n` +
          `Content-Type: application/octet-stream\r\nContent-Length: ${size}\r\n\r\n`,
      );
      socket.write(Buffer.alloc(sent, 1));
      return socket;
    };
    const first = open(1024); // holds the change while its body trickles in
    await new Promise((r) => setTimeout(r, 200));
    const second = open(2 * 1024 * 1024); // waits for the first; nobody reads its body yet
    await new Promise((r) => setTimeout(r, 300));
    second.destroy(); // the client gives up: its unread body errors
    await new Promise((r) => setTimeout(r, 300));
    first.destroy();
    await new Promise((r) => setTimeout(r, 300));
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  });
});
