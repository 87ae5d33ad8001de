import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { JsonLogger } from '../../src/adapters/log/json-logger.js';
import {
  addressKey,
  isLoopback,
  RESERVED_CONNECTIONS,
  type RunningServer,
  startHttpServer,
} from '../../src/runtime/http-server.js';

/**
 * Who may hold a connection (src/runtime/http-server.ts): a cap per client address, the total cap with its
 * reserve, and request heads that never finish. Real sockets from several loopback addresses (127.0.0.2, .3, …:
 * Linux answers the whole 127.0.0.0/8), no token needed: a connection is refused before a byte is read.
 */

let server: RunningServer | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await server?.close(0);
  server = undefined;
});

async function start(options: Partial<Parameters<typeof startHttpServer>[0]>, lines: string[] = []) {
  server = await startHttpServer({
    fetch: () => new Response('{"status":"ok"}', { headers: { 'content-type': 'application/json' } }),
    host: '127.0.0.1',
    port: 0,
    logger: new JsonLogger((l) => lines.push(l), 'info'),
    ...options,
  });
  return server;
}

interface Client {
  socket: Socket;
  received: () => string;
  closed: Promise<void>;
}

/** A connection from `from`, open once the server has accepted the TCP handshake. */
async function open(from: string): Promise<Client> {
  const { port } = new URL(server!.url);
  const socket = connect({ host: '127.0.0.1', port: Number(port), localAddress: from });
  sockets.push(socket);
  let text = '';
  socket.on('data', (d) => {
    text += d.toString('latin1');
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return { socket, received: () => text, closed };
}

/** The connection answers a request: the server admitted it (and counts it until it closes). */
async function answered(client: Client): Promise<boolean> {
  client.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  return Promise.race([
    new Promise<boolean>((resolve) => {
      const check = () => {
        if (client.received().includes('{"status":"ok"}')) {
          client.socket.off('data', check);
          resolve(true);
        }
      };
      client.socket.on('data', check);
      check();
    }),
    client.closed.then(() => client.received().includes('{"status":"ok"}')),
  ]);
}

describe('connections', () => {
  it('holds at most maxConnectionsPerAddress from one client address; other addresses go on', async () => {
    const lines: string[] = [];
    await start({ maxConnections: 10, maxConnectionsPerAddress: 2 }, lines);
    const first = [await open('127.0.0.2'), await open('127.0.0.2')];
    for (const c of first) expect(await answered(c)).toBe(true);
    const third = await open('127.0.0.2');
    await third.closed; // closed at once, before a byte is read
    expect(third.received()).toBe('');
    expect(await answered(await open('127.0.0.3'))).toBe(true);
    // One of the address's connections goes: it may open another.
    first[0]!.socket.destroy();
    await first[0]!.closed;
    let again: Client | undefined;
    for (let i = 0; i < 50 && again === undefined; i++) {
      const c = await open('127.0.0.2'); // the server may not have seen the close yet: then this one is refused
      if (await answered(c)) again = c;
    }
    expect(again).toBeDefined();
    const warned = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(warned).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: 'connection refused: this client address holds its maximum of connections',
        address: '127.0.0.2',
      }),
    );
  });

  it('keeps a reserve beyond maxConnections for reserved clients (an operator on the machine)', async () => {
    await start({ maxConnections: 2, maxConnectionsPerAddress: 2, reserved: (a) => a === '127.0.0.9' });
    for (const c of [await open('127.0.0.2'), await open('127.0.0.3')]) expect(await answered(c)).toBe(true);
    const other = await open('127.0.0.4');
    await other.closed;
    expect(other.received()).toBe('');
    // The reserved client gets in while everyone else is refused.
    expect(await answered(await open('127.0.0.9'))).toBe(true);
    expect(RESERVED_CONNECTIONS).toBeGreaterThan(0);
  });

  it('keeps no reserve when it listens on loopback: every client is local there', async () => {
    await start({ maxConnections: 1, maxConnectionsPerAddress: 1 });
    expect(await answered(await open('127.0.0.2'))).toBe(true);
    const local = await open('127.0.0.3');
    await local.closed;
    expect(local.received()).toBe('');
  });

  it('caps no address by default when it listens on loopback (an agent or a proxy on the machine)', async () => {
    await start({ maxConnections: 4 });
    const clients = [await open('127.0.0.2'), await open('127.0.0.2'), await open('127.0.0.2')];
    for (const c of clients) expect(await answered(c)).toBe(true);
  });

  it('cuts off a client whose request head does not arrive in time: 408 REQUEST_TIMEOUT', async () => {
    await start({ headersTimeoutMs: 1_000 });
    const slow = await open('127.0.0.2');
    slow.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0'); // and nothing more
    await slow.closed; // waits for the server to close it (the test's own timeout bounds the wait)
    expect(slow.received()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(slow.received()).toContain('"code":"REQUEST_TIMEOUT"');
  });
});

describe('a client that never closes its side', () => {
  it('loses its connection (and its place) once it is answered 408, not just half of it', async () => {
    await start({ maxConnectionsPerAddress: 1, headersTimeoutMs: 1_000 });
    const { port } = new URL(server!.url);
    const squatter = connect({ host: '127.0.0.1', port: Number(port), localAddress: '127.0.0.2', allowHalfOpen: true });
    sockets.push(squatter);
    squatter.on('error', () => {});
    let text = '';
    const told = new Promise<void>((resolve) =>
      squatter.on('data', (d) => {
        text += d.toString('latin1');
        if (text.includes('REQUEST_TIMEOUT')) resolve();
      }),
    );
    await told; // it sends nothing, and keeps its side open
    let again = false;
    for (let i = 0; i < 50 && !again; i++) again = await answered(await open('127.0.0.2'));
    expect(again).toBe(true);
  });
});

describe('client addresses', () => {
  it('counts IPv4 as it is, IPv4-mapped IPv6 as IPv4, and IPv6 by its /64', () => {
    expect(addressKey('192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0DB8:0001:0002::9')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1:2:3:4')).toBe('fe80:0:0:0::/64');
  });

  it('knows loopback addresses', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1', 'localhost'])
      expect(isLoopback(a)).toBe(true);
    for (const a of ['0.0.0.0', '::', '10.0.0.1', '192.0.2.1', '2001:db8::1', '128.0.0.1']) {
      expect(isLoopback(a)).toBe(false);
    }
  });
});
