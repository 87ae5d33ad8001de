import { createServer, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { afterEach, expect, it } from 'vitest';
import { WebDavPeer } from '../../src/adapters/webdav/peer.js';
import type { JournalEntry } from '../../src/core/entry.js';
import { freePort } from '../support/ports.js';

// A replayed body is a stream over the journal's file (or an S3 response): however a request fails, the stream
// must be closed, or a peer that is down leaks one open file per retry.

const peers: WebDavPeer[] = [];
afterEach(async () => {
  for (const peer of peers.splice(0)) await peer.close();
});

function upload(path: string): JournalEntry {
  return {
    id: '20261206T000000000Z-000000-000000',
    lane: '0123456789abcdef',
    peer: 'down',
    location: '/',
    action: 'upload',
    path,
    size: 5,
    createdAt: new Date().toISOString(),
    status: 'PENDING',
    attempts: 0,
  };
}

it.each([
  ['a stream', () => new Readable({ read() {} })], // never ends by itself: only a destroy closes it
  [
    'an async iterable',
    () =>
      Readable.from(
        (async function* () {
          yield Buffer.from('hello');
        })(),
      ),
  ],
])('closes the body (%s) of a PUT that never got a connection', async (_kind, make) => {
  const peer = new WebDavPeer({ name: 'down', url: `http://127.0.0.1:${await freePort()}/`, timeoutMs: 5_000 });
  peers.push(peer);
  const body = make();
  // The file sits at the root, so the PUT is the first request (no MKCOL of a parent goes before it).
  const outcome = await peer.apply(upload('/file.txt'), async () => body);
  expect(outcome).toMatchObject({ kind: 'offline', code: 'ECONNREFUSED' });
  expect(body.destroyed).toBe(true);
});

it('closes the body when a parent folder cannot be made first', async () => {
  const peer = new WebDavPeer({ name: 'down', url: `http://127.0.0.1:${await freePort()}/`, timeoutMs: 5_000 });
  peers.push(peer);
  const body = new Readable({ read() {} });
  const outcome = await peer.apply(upload('/folder/file.txt'), async () => body);
  expect(outcome).toMatchObject({ kind: 'offline', code: 'ECONNREFUSED' });
  expect(body.destroyed).toBe(true);
});

it('answers an abort at once while the request still waits for a busy connection, and closes its body', async () => {
  // One connection, held by a first request the server does not answer until the test says so.
  const held: ServerResponse[] = [];
  let arrived!: () => void;
  const firstArrived = new Promise<void>((resolve) => (arrived = resolve));
  const server = createServer((req, res) => {
    req.resume();
    held.push(res);
    arrived();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const peer = new WebDavPeer({ name: 'busy', url: `http://127.0.0.1:${port}/`, connections: 1, timeoutMs: 60_000 });
  peers.push(peer);
  try {
    const first = peer.apply({ ...upload('/held.txt'), action: 'delete' }, async () => new Readable({ read() {} }));
    await firstArrived;
    const controller = new AbortController();
    const body = new Readable({ read() {} });
    let opened!: () => void;
    const bodyOpened = new Promise<void>((resolve) => (opened = resolve));
    const open = async () => {
      opened();
      return body;
    };
    const second = peer.apply(upload('/queued.txt'), open, controller.signal);
    // Dispatched: the body is opened, and the rest of the way to the pool is promise callbacks, all run before
    // the next turn of the event loop.
    await bodyOpened;
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort();
    // Settles while the first request still holds the only connection (it is answered only after this).
    await expect(second).resolves.toMatchObject({ kind: 'offline', code: 'UND_ERR_ABORTED' });
    expect(body.destroyed).toBe(true);
    expect(held).toHaveLength(1); // the aborted request never reached the server
    held[0]!.writeHead(204).end();
    await expect(first).resolves.toEqual({ kind: 'applied' });
  } finally {
    for (const res of held) if (!res.writableEnded) res.end();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
