import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/node-client.js';
import { NODE_A_TOKEN, NODE_B_TOKEN, startTestRelay, type TestRelay } from '../support/relay.js';

// One node's small uploads, sent slowly, took the whole memory the relay holds request bodies in (64 MiB), and
// every node's configuration documents were refused (429 BODY_MEMORY_FULL) for as long as it kept them coming:
// a body a second outlasts no timeout (found by a review). A node now holds at most a quarter of that memory, and
// uploads leave an eighth of it to configuration documents; what does not fit streams to disk.

const SLOW_UPLOADS = 260; // 260 × 256 KiB: more than the whole budget
const SIZE = 256 * 1024;

describe('the body memory and one node sending slowly', () => {
  let t: TestRelay;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    t = await startTestRelay({ peers: [{ name: 'server2', url: 'http://127.0.0.1:9/' }] }, { replay: false });
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await t?.close();
  });

  const putDocument = (token: string) =>
    fetch(`${t.url}/v1/config/users/john.json`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{"name":"john"}',
    }).then(async (res) => ({ status: res.status, body: await res.text() }));

  it("does not let one node's slow uploads lock every node's configuration documents out", async () => {
    const { port } = new URL(t.url);
    for (let i = 0; i < SLOW_UPLOADS; i++) {
      const socket = connect(Number(port), '127.0.0.1');
      socket.on('error', () => {});
      // The head and one byte of the body; the rest never comes (within the test).
      socket.write(
        `POST /v1/uploads?path=/user_homes/slow/${i}.bin&size=${SIZE} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
          `Authorization: Bearer ${NODE_A_TOKEN}\r\nContent-Length: ${SIZE}\r\n\r\nx`,
      );
      sockets.push(socket);
    }
    // Node a's own document waits for memory: its share is held by its uploads (before: everyone's was).
    await waitFor(
      async () => (await putDocument(NODE_A_TOKEN)).status === 429,
      20_000,
      () => 'node a never filled its share of the body memory',
    );
    const other = await putDocument(NODE_B_TOKEN);
    expect(other.status, other.body).toBe(202);
  }, 60_000);
});
