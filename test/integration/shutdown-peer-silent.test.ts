import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { waitFor } from '../support/node-client.js';
import { ADMIN_TOKEN, auth, NODE_A_TOKEN, startTestRelay } from '../support/relay.js';

// A relay told to stop while a replay waits on a peer that never answers (or trickles a large body): the stop
// gives replays their grace, then cuts them off. It waited for the peer's request timeout (60 s by default, here
// ten minutes), past systemd's TimeoutStopSec, and recorded the cut-off attempt after the journal was closed.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

it('a stop cuts off a replay the peer never answers, records nothing of it, and the next start sends it', async () => {
  const held: ServerResponse[] = [];
  let puts = 0;
  const peer = createServer((req, res) => {
    if (req.method === 'PUT') {
      puts += 1;
      held.push(res); // never answered
      return;
    }
    req.resume();
    res.writeHead(req.method === 'PROPFIND' ? 207 : 201).end();
  });
  await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const res of held) res.destroy();
    peer.closeAllConnections();
    await new Promise((resolve) => peer.close(resolve));
  });
  const url = `http://127.0.0.1:${(peer.address() as AddressInfo).port}/`;
  const config = { peers: [{ name: 'server2', url }], replay: { requestTimeoutSeconds: 600 } };
  const first = await startTestRelay(config);
  const journal = first.journal;
  const body = 'held at the peer';
  const sent = await fetch(`${first.url}/v1/uploads?path=/user_homes/held.txt&size=${body.length}`, {
    method: 'POST',
    headers: auth(NODE_A_TOKEN, { 'content-type': 'application/octet-stream' }),
    body,
  });
  expect(sent.status).toBe(201);
  const { id } = (await sent.json()) as { id: string };
  await waitFor(async () => puts === 1, 10_000);

  await first.relay.close(); // resolves: before, only when the peer's request timed out

  const next = await startTestRelay(config, { journal, replay: false });
  cleanups.push(() => next.close());
  const change = await fetch(`${next.url}/v1/changes/${id}`, { headers: auth(ADMIN_TOKEN) });
  const { peers } = (await change.json()) as { peers: { status: string; attempts: number; lastError?: string }[] };
  expect(peers).toEqual([expect.objectContaining({ status: 'PENDING', attempts: 0 })]);
}, 60_000);
