import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startHttpServer } from '../../src/runtime/http-server.js';
import { startTestRelay, type TestRelay } from '../support/relay.js';

/**
 * A keep-alive connection whose request carried a body the handler did not read (GET /healthz with a body, a commit
 * with an ignored body, ...) must close once idle, or with a body that trickles on: no token is needed, and such
 * connections would pile up to the per-address cap. (The body's 'end' after the answer cancelled Node's
 * keep-alive timeout; an answer to a trickling body kept reading it.)
 */
let relay: TestRelay;
let server: RunningServer;
const KEEP_ALIVE_MS = 300;

beforeAll(async () => {
  relay = await startTestRelay({}, { replay: false });
  // The relay's own app behind http-server.ts, with a short keepAliveTimeout (65 s in the real server).
  server = await startHttpServer({
    fetch: relay.relay.app.fetch,
    host: '127.0.0.1',
    port: 0,
    headersTimeoutMs: 1000,
    maxConnectionsPerAddress: 2,
  });
  server.server.keepAliveTimeout = KEEP_ALIVE_MS;
});
afterAll(async () => {
  await server?.close(0);
  await relay?.close();
});

/** Sends `request`, waits for an answer, then reports whether the server closed the idle connection within `ms`. */
function closedWhileIdle(request: string, ms: number): Promise<boolean> {
  const { port } = new URL(server.url);
  return new Promise((resolve) => {
    const socket: Socket = connect({ host: '127.0.0.1', port: Number(port) });
    socket.on('error', () => {});
    let text = '';
    let timer: NodeJS.Timeout | undefined;
    socket.on('data', (d) => {
      text += d;
      if (!timer && text.includes('{"status":"ok"}')) {
        timer = setTimeout(() => {
          socket.destroy();
          resolve(false);
        }, ms);
      }
    });
    socket.on('close', () => {
      if (timer) clearTimeout(timer);
      resolve(true);
    });
    socket.write(request);
  });
}

describe('idle keep-alive connections', () => {
  it('are closed after keepAliveTimeout when the request had no body (control)', async () => {
    const host = new URL(server.url).host;
    expect(await closedWhileIdle(`GET /healthz HTTP/1.1\r\nHost: ${host}\r\n\r\n`, 5000)).toBe(true);
  });

  it('are closed after keepAliveTimeout when the request had a body nobody read', async () => {
    const host = new URL(server.url).host;
    // Fails: the connection stays open (no timeout at all once the dumped body ended).
    expect(await closedWhileIdle(`GET /healthz HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 1\r\n\r\nx`, 5000)).toBe(
      true,
    );
  });
});

describe('an answered request whose body keeps trickling (no token needed)', () => {
  it('loses its connection once answered, as error answers do (Connection: close when the body is unread)', async () => {
    const { port, host } = new URL(relay.url); // the relay's real server, with its Node routes
    const result = await new Promise<string>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: Number(port) });
      socket.on('error', () => {});
      let text = '';
      const drip = setInterval(() => socket.write('a'), 100);
      socket.on('data', (d) => {
        text += d;
      });
      const timer = setTimeout(() => {
        socket.destroy();
        resolve(`still open after 4 s; answered: ${text.split('\r\n')[0]}`);
      }, 4000);
      socket.on('close', () => {
        clearInterval(drip);
        clearTimeout(timer);
        resolve('closed');
      });
      socket.write(`GET /healthz HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 1000000000\r\n\r\n`);
    });
    // Fails: 'still open after 4 s; answered: HTTP/1.1 200 OK' — Node drains the 1 GB body for as long as it trickles.
    expect(result).toBe('closed');
  });
});
