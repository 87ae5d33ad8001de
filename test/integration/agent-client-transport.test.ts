import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { RelayClient } from '../../src/agent/client.js';
import { BodyChangedError, RelayRefusedError, RelayUnavailableError } from '../../src/agent/errors.js';
import { freePort } from '../support/ports.js';

// The client's own transport (undici's request API, not fetch) over real loopback sockets: how each failure a
// network can produce is sorted. A small HTTP server stands in for the relay; the relay itself is tested with
// the client in agent.test.ts.

const fast = { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 };
const change = { action: 'upload' as const, path: '/user_homes/a.bin', size: 10, sha256: 'ab'.repeat(32) };

describe('RelayClient over the network', () => {
  const servers: Server[] = [];
  const clients: RelayClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    for (const server of servers.splice(0)) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
    const server = createServer(handler);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  function client(relay: string, timeoutMs = 5_000): RelayClient {
    const c = new RelayClient({ relay, token: 'node-token', retry: fast, timeoutMs });
    clients.push(c);
    return c;
  }

  it('sends one-request uploads with the token and the declared length, and reads the answer', async () => {
    const seen: { url: string; auth: string | undefined; length: string | undefined; body: string }[] = [];
    const relay = await serve((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        seen.push({ url: req.url!, auth: req.headers.authorization, length: req.headers['content-length'], body });
        res.writeHead(201, { 'content-type': 'application/json' }).end('{"id":"c1","status":"PENDING"}');
      });
    });
    const receipt = await client(relay).uploadFile(change, async function* () {
      yield Buffer.from('hello');
      yield Buffer.from('world');
    });
    expect(receipt).toEqual({ id: 'c1', status: 'PENDING' });
    expect(seen).toEqual([
      {
        url: expect.stringMatching(/^\/v1\/uploads\?path=%2Fuser_homes%2Fa\.bin&size=10&sha256=/),
        auth: 'Bearer node-token',
        length: '10',
        body: 'helloworld',
      },
    ]);
  });

  it('reports a body shorter than declared as a changed file, without retrying it', async () => {
    let requests = 0;
    const relay = await serve((req, res) => {
      requests += 1;
      req.resume();
      req.on('end', () => res.writeHead(201).end('{}'));
    });
    const error = await client(relay)
      .uploadFile(change, async function* () {
        yield Buffer.from('short');
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BodyChangedError);
    expect(requests).toBeLessThanOrEqual(1);
  });

  it('gives up on a closed port after the allowed attempts', async () => {
    const relay = `http://127.0.0.1:${await freePort()}`;
    const error = await client(relay)
      .submitChange({ action: 'makedir', path: '/user_homes/d' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RelayUnavailableError);
    expect((error as Error).message).toMatch(/ECONNREFUSED/);
    expect((error as RelayUnavailableError).attempts).toBe(2);
  });

  it('times out a relay that never answers, and passes 4xx answers on as refusals', async () => {
    const relay = await serve((req, res) => {
      if (req.url === '/v1/changes') return; // never answered
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end('{"error":{"code":"BAD_PATH","message":"no"}}');
    });
    const silent = await client(relay, 200)
      .submitChange({ action: 'makedir', path: '/user_homes/d' })
      .catch((e: unknown) => e);
    expect(silent).toBeInstanceOf(RelayUnavailableError);
    expect((silent as Error).message).toMatch(/no answer within 200 ms/);
    const refused = await client(relay)
      .deleteConfig('users', 'x.XML')
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RelayRefusedError);
    expect(refused).toMatchObject({ status: 400, code: 'BAD_PATH' });
  });

  it('does not follow a redirect: it names where the relay sent it, without retrying', async () => {
    let requests = 0;
    const relay = await serve((_req, res) => {
      requests += 1;
      res.writeHead(308, { location: 'https://relay.example/v1/changes' }).end();
    });
    const error = await client(relay)
      .submitChange({ action: 'makedir', path: '/user_homes/d' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RelayRefusedError);
    expect(error).toMatchObject({ status: 308, code: 'REDIRECT', isRedirect: true, isAuthorization: false });
    expect((error as Error).message).toContain('https://relay.example/v1/changes');
    expect(requests).toBe(1);
  });

  it("rejects with the caller's reason when the caller aborts", async () => {
    const relay = await serve(() => {}); // never answers
    const controller = new AbortController();
    const call = client(relay).submitChange(
      { action: 'makedir', path: '/user_homes/d' },
      { signal: controller.signal },
    );
    setTimeout(() => controller.abort(new Error('agent stopping')), 50);
    await expect(call).rejects.toThrow('agent stopping');
  });
});
