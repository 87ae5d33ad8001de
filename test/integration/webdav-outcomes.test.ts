import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebDavPeer } from '../../src/adapters/webdav/peer.js';
import type { JournalEntry } from '../../src/core/entry.js';
import { entry } from '../support/journal-conformance.js';
import { waitFor } from '../support/node-client.js';

// How the WebDAV adapter sorts what a peer answers, for the answers Apache will not give on demand: a scripted
// server on loopback stands in for the peer (the real mapping is tested against Apache in webdav-peer.test.ts).

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

describe('WebDAV peer outcome classification', () => {
  const servers: Server[] = [];
  const peers: WebDavPeer[] = [];
  afterEach(async () => {
    for (const p of peers.splice(0)) await p.close().catch(() => {});
    for (const server of servers.splice(0)) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  async function peerAnswering(handler: Handler, timeoutMs = 5_000) {
    const seen: { method: string; url: string; length?: string; body: number }[] = [];
    const sockets = new Set<Socket>();
    const server = createServer((req, res) => {
      let body = 0;
      req.on('data', (chunk: Buffer) => (body += chunk.length));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, length: req.headers['content-length'], body });
        handler(req, res);
      });
    });
    server.on('connection', (socket) => sockets.add(socket));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const peer = new WebDavPeer({ name: 'scripted', url, timeoutMs, connections: 2 });
    peers.push(peer);
    return { peer, seen, sockets };
  }

  const makedir = (): JournalEntry => entry({ action: 'makedir', path: '/user_homes/d' });
  const upload = (size: number): JournalEntry => entry({ action: 'upload', path: '/user_homes/f.bin', size });
  const body = (size: number) => async () => Buffer.alloc(size, 7);

  it.each([500, 502, 503, 504, 408, 429])(
    'HTTP %i means the peer is offline, not that the change is wrong',
    async (status) => {
      const { peer } = await peerAnswering((_req, res) => res.writeHead(status).end());
      expect(await peer.apply(makedir(), body(0))).toMatchObject({
        kind: 'offline',
        reason: `MKCOL /user_homes: HTTP ${status}`,
      });
    },
  );

  it('carries the status as a field, and Retry-After (seconds or an HTTP date) of a 429 or 503', async () => {
    const { peer: seconds } = await peerAnswering((_req, res) => res.writeHead(429, { 'retry-after': '7' }).end());
    expect(await seconds.apply(makedir(), body(0))).toEqual({
      kind: 'offline',
      reason: 'MKCOL /user_homes: HTTP 429',
      status: 429,
      retryAfterMs: 7000,
    });
    const later = new Date(Date.now() + 120_000).toUTCString();
    const { peer: date } = await peerAnswering((_req, res) => res.writeHead(503, { 'retry-after': later }).end());
    const outcome = await date.apply(makedir(), body(0));
    expect(outcome).toMatchObject({ kind: 'offline', status: 503 });
    expect((outcome as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(100_000);
    // A 500 says nothing about when to come back, even with the header.
    const { peer: plain } = await peerAnswering((_req, res) => res.writeHead(500, { 'retry-after': '7' }).end());
    expect(await plain.apply(makedir(), body(0))).toEqual({
      kind: 'offline',
      reason: 'MKCOL /user_homes: HTTP 500',
      status: 500,
    });
  });

  it('a redirect is the peer offline with a reason that says to fix its url; 423 Locked is tried again', async () => {
    const { peer } = await peerAnswering((req, res) =>
      req.method === 'DELETE'
        ? res.writeHead(423).end()
        : res.writeHead(301, { location: 'https://peer.example/dav/' }).end(),
    );
    expect(await peer.apply(makedir(), body(0))).toMatchObject({
      kind: 'offline',
      status: 301,
      reason: expect.stringContaining('the peer redirects'),
    });
    expect(await peer.probe()).toMatchObject({ kind: 'offline', status: 301 });
    expect(await peer.apply(entry({ action: 'delete', path: '/user_homes/x' }), body(0))).toMatchObject({
      kind: 'offline',
      status: 423,
    });
  });

  it.each([423, 301])('a modified time refused with HTTP %i is best effort: applied, not retried', async (status) => {
    const { peer } = await peerAnswering((_req, res) => res.writeHead(status).end());
    const mdtm = entry({ action: 'mdtm', path: '/user_homes/f.txt', modified: '2026-01-01T00:00:00Z' });
    expect(await peer.apply(mdtm, body(0))).toMatchObject({
      kind: 'applied',
      detail: expect.stringContaining(`${status}`),
    });
  });

  it.each([409, 412, 415, 422])('HTTP %i to a PUT parks the change as a conflict', async (status) => {
    // MKCOL of the parent succeeds; the PUT itself is refused (a 409 is retried once after re-creating the parent).
    const { peer, seen } = await peerAnswering((req, res) =>
      res.writeHead(req.method === 'MKCOL' ? 201 : status).end(),
    );
    expect(await peer.apply(upload(10), body(10))).toMatchObject({
      kind: 'conflict',
      reason: `PUT /user_homes/f.bin: HTTP ${status}`,
      status,
    });
    const puts = seen.filter((r) => r.method === 'PUT');
    expect(puts.length).toBe(status === 409 ? 2 : 1);
    expect(puts[0]).toMatchObject({ url: '/user_homes/f.bin', length: '10', body: 10 });
  });

  it('a MKCOL refused 403 (a concurrent MKCOL won: mkdir EEXIST) is settled by a check, and a failed check is retried, not parked', async () => {
    // The folder exists after all: the check says so, the change applies.
    const { peer: raced } = await peerAnswering((req, res) => {
      if (req.method === 'MKCOL') return res.writeHead(403).end();
      res.writeHead(207, { 'content-type': 'application/xml' });
      res.end(
        '<D:multistatus xmlns:D="DAV:"><D:response><D:propstat><D:prop><D:resourcetype><D:collection/>' +
          '</D:resourcetype></D:prop></D:propstat></D:response></D:multistatus>',
      );
    });
    expect(await raced.apply(makedir(), body(0))).toMatchObject({ kind: 'applied' });
    // The check fails (the peer answered 503 to it): nothing is known, so the attempt counts as the peer being
    // unavailable — never as a CONFLICT.
    const { peer: flaky } = await peerAnswering((req, res) => res.writeHead(req.method === 'MKCOL' ? 403 : 503).end());
    expect(await flaky.apply(makedir(), body(0))).toMatchObject({
      kind: 'offline',
      status: 503,
      reason: 'PROPFIND /user_homes (after MKCOL: HTTP 403): HTTP 503',
    });
    // The check says there is no folder: the 403 stands.
    const { peer: refused } = await peerAnswering((req, res) =>
      res.writeHead(req.method === 'MKCOL' ? 403 : 404).end(),
    );
    expect(await refused.apply(makedir(), body(0))).toMatchObject({ kind: 'unauthorized', status: 403 });
  });

  it('a folder DELETE or MOVE the peer did for some members only (207 Multi-Status) is a conflict, not applied', async () => {
    const multi =
      '<?xml version="1.0" encoding="utf-8"?><D:multistatus xmlns:D="DAV:"><D:response>' +
      '<D:href>/user_homes/d/locked.txt</D:href><D:status>HTTP/1.1 423 Locked</D:status></D:response></D:multistatus>';
    const { peer } = await peerAnswering((req, res) => {
      if (req.method === 'MKCOL') return res.writeHead(405).end();
      res.writeHead(207, { 'content-type': 'application/xml' }).end(multi);
    });
    expect(await peer.apply(entry({ action: 'delete', path: '/user_homes/d' }), body(0))).toMatchObject({
      kind: 'conflict',
      status: 207,
      reason: expect.stringContaining('DELETE /user_homes/d: the peer did it for part of the folder only'),
    });
    const rename = entry({ action: 'rename', path: '/user_homes/d', target: '/user_homes/e' });
    expect(await peer.apply(rename, body(0))).toMatchObject({ kind: 'conflict', status: 207 });
  });

  it('HTTP 401 and 403 mean the credentials are refused', async () => {
    for (const status of [401, 403]) {
      const { peer } = await peerAnswering((_req, res) => res.writeHead(status).end());
      expect(await peer.apply(makedir(), body(0))).toMatchObject({ kind: 'unauthorized', status });
    }
  });

  it('a connection reset in the middle of an answer means offline', async () => {
    const { peer } = await peerAnswering((req) => req.socket.destroy());
    expect(await peer.apply(makedir(), body(0))).toMatchObject({
      kind: 'offline',
      reason: expect.stringMatching(/UND_ERR_SOCKET|ECONNRESET/),
      code: expect.stringMatching(/UND_ERR_SOCKET|ECONNRESET/),
    });
  });

  it('a peer that never answers times out as offline (the configured request timeout)', async () => {
    // With the default 30 s timeout instead of the configured 300 ms, the test's own 5 s limit fails it.
    const { peer } = await peerAnswering(() => {}, 300);
    expect(await peer.apply(makedir(), body(0))).toMatchObject({ kind: 'offline', reason: 'UND_ERR_HEADERS_TIMEOUT' });
  });

  it('stops when its signal is aborted: the request in flight is dropped, and no further one is sent', async () => {
    // MKCOL of the parent is answered; the PUT never is (a slow peer), and the replay gives the entry up meanwhile.
    const { peer, seen } = await peerAnswering((req, res) => {
      if (req.method === 'MKCOL') res.writeHead(201).end();
    }, 30_000);
    const controller = new AbortController();
    const applying = peer.apply(upload(10), body(10), controller.signal);
    await waitFor(async () => seen.some((r) => r.method === 'PUT'), 5_000);
    controller.abort();
    // UND_ERR_ABORTED, not the 30 s request timeout's UND_ERR_HEADERS_TIMEOUT.
    expect(await applying).toMatchObject({ kind: 'offline', reason: 'UND_ERR_ABORTED' });
    // Already aborted: nothing is sent at all.
    const before = seen.length;
    expect(await peer.apply(makedir(), body(0), controller.signal)).toMatchObject({ kind: 'offline' });
    await new Promise((r) => setTimeout(r, 100));
    expect(seen.length).toBe(before);
  });

  it('stops as well when aborted while the answer is still coming in (headers sent, body stalled)', async () => {
    const { peer, seen } = await peerAnswering((_req, res) => {
      res.writeHead(201, { 'content-length': '100' });
      res.write('partial');
    }, 30_000);
    const controller = new AbortController();
    const applying = peer.apply(makedir(), body(0), controller.signal);
    await waitFor(async () => seen.length > 0, 5_000);
    await new Promise((r) => setTimeout(r, 50)); // the headers are in, the body never completes
    controller.abort();
    expect(await applying).toMatchObject({ kind: 'offline', reason: 'UND_ERR_ABORTED' });
  });

  it('reuses its keep-alive connections: many requests over at most the pool size of sockets', async () => {
    const { peer, sockets, seen } = await peerAnswering((_req, res) => res.writeHead(201).end());
    for (let i = 0; i < 10; i++) {
      expect(await peer.apply(entry({ action: 'makedir', path: `/user_homes/k${i}` }), body(0))).toMatchObject({
        kind: 'applied',
      });
    }
    expect(seen.length).toBeGreaterThanOrEqual(11);
    expect(sockets.size).toBeLessThanOrEqual(2); // connections: 2
  });
});
