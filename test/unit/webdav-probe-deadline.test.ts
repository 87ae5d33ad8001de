import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { WebDavPeer } from '../../src/adapters/webdav/peer.js';

// The API function answers behind API Gateway, which gives up at 29 s: a probe there (an operator's ping, autoPlay)
// must end by its own deadline, however many PROPFINDs it takes and however long the peer keeps each one open.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

it('ends a probe at its deadline as OFFLINE when the peer holds its PROPFINDs open', async () => {
  const held: ServerResponse[] = [];
  const asked: string[] = [];
  const server = createServer((req, res) => {
    asked.push(req.url!);
    if (req.url === '/') {
      res.writeHead(403).end(); // the root is not listed to this user: the probe asks each location next
      return;
    }
    held.push(res); // and those never answer
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const res of held) res.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const port = (server.address() as AddressInfo).port;
  const peer = new WebDavPeer({
    name: 'slow',
    url: `http://127.0.0.1:${port}/`,
    timeoutMs: 600_000, // each request alone would wait ten minutes
    probeTimeoutMs: 200,
    probePaths: ['/user_homes', '/shared'],
  });
  cleanups.push(() => peer.close());

  const outcome = await peer.probe();

  expect(outcome).toMatchObject({ kind: 'offline', code: 'TIMEOUT' });
  expect(outcome.kind === 'offline' && outcome.reason).toMatch(/no answer within the probe's 0\.2 s/);
  expect(asked).toEqual(['/', '/user_homes/']);
});

it('answers a probe the peer answers in time as before', async () => {
  const server = createServer((_req, res) => res.writeHead(207, { 'content-type': 'application/xml' }).end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;
  const peer = new WebDavPeer({ name: 'quick', url: `http://127.0.0.1:${port}/`, probeTimeoutMs: 60_000 });
  cleanups.push(() => peer.close());
  expect(await peer.probe()).toEqual({ kind: 'applied' });
});
