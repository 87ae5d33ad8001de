import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { releaseStream } from '../../src/core/bytes.js';
import { PayloadTooLargeError } from '../../src/core/errors.js';
import { receiveAtMost } from '../../src/core/receive.js';
import { requestBody } from '../../src/runtime/node-request-bodies.js';

// The Node server's request bodies, read whole (receiveAtMost) or streamed: whatever state the request is in when
// the body is made or read, the reader gets the bytes or an error, never a promise that stays pending.

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

/** A server whose handler reads the body as `read` says, answering what it got (or the error's name). */
async function serve(read: (req: IncomingMessage) => Promise<Uint8Array>): Promise<string> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    read(req).then(
      (bytes) => res.end(`ok ${Buffer.from(bytes).toString()}`),
      (error: Error) => res.end(`error ${error.name}: ${error.message}`),
    );
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function post(url: string, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: false }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function iterate(body: AsyncIterable<Uint8Array>): Promise<number> {
  let size = 0;
  for await (const chunk of body) size += chunk.length;
  return size;
}

it('reads a body whole, and refuses one past the limit without closing the connection before the answer', async () => {
  const url = await serve((req) => receiveAtMost(requestBody(req), 5));
  expect(await post(url, 'hello')).toBe('ok hello');
  expect(await post(url, 'hello!')).toBe(
    `error ${new PayloadTooLargeError('x').name}: the body is larger than 5 bytes`,
  );
});

it('streams a body to a reader that iterates it', async () => {
  const url = await serve(async (req) => {
    const chunks: Buffer[] = [];
    for await (const chunk of requestBody(req)) chunks.push(Buffer.from(chunk));
    return Buffer.concat(chunks);
  });
  expect(await post(url, 'streamed')).toBe('ok streamed');
});

it('reads a request that was paused before', async () => {
  const url = await serve((req) => {
    req.pause();
    return receiveAtMost(requestBody(req), 100);
  });
  expect(await post(url, 'paused')).toBe('ok paused');
});

it('fails, instead of waiting forever, for a request destroyed before its body was made or read', async () => {
  const outcomes: string[] = [];
  const settled = new Promise<void>((resolve) => {
    const server = createServer((req: IncomingMessage) => {
      const early = requestBody(req); // made while the request is whole: destroyed afterwards
      req.destroy();
      const late = requestBody(req); // made once it is destroyed
      // Read once the request's own events are over (its 'close' came and went with nobody listening).
      req.once('close', () =>
        setImmediate(() =>
          Promise.allSettled([receiveAtMost(early, 100), receiveAtMost(late, 100), iterate(requestBody(req))]).then(
            (results) => {
              for (const r of results) outcomes.push(r.status);
              resolve();
            },
          ),
        ),
      );
    });
    servers.push(server);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      const req = request(`http://127.0.0.1:${port}`, { method: 'POST', agent: false });
      req.on('error', () => {});
      req.end('body');
    });
  });
  await settled;
  expect(outcomes).toEqual(['rejected', 'rejected', 'rejected']);
});

it('leaves a released body unread: a later reader fails', async () => {
  const url = await serve(async (req) => {
    const body = requestBody(req);
    releaseStream(body);
    return receiveAtMost(body, 100);
  });
  expect(await post(url, 'unread')).toMatch(/^error /);
});
