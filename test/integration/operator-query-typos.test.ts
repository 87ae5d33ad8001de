import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_TOKEN,
  auth,
  jsonHeaders,
  NODE_A_TOKEN,
  NODE_B_TOKEN,
  startTestRelay,
  type TestRelay,
} from '../support/relay.js';

// An operator action whose filter is misspelled must be refused, not widened to everything: the API already
// refused an empty `peer=` for that reason (docs/api.md), but an unknown parameter was silently dropped, and
// `?Peer=server2` skipped the change for every peer, `?Node=node-a` released every node's held deletes (found by a
// review).

async function post(relay: TestRelay, token: string, change: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${relay.url}/v1/changes`, {
    method: 'POST',
    headers: jsonHeaders(token),
    body: JSON.stringify(change),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

const admin = (relay: TestRelay, method: string, path: string) =>
  fetch(`${relay.url}${path}`, { method, headers: auth(ADMIN_TOKEN) });

describe('operator actions with a misspelled filter', () => {
  let relay: TestRelay;
  beforeAll(async () => {
    relay = await startTestRelay(
      {
        peers: [
          { name: 'server2', url: 'http://127.0.0.1:9/', pingIntervalSeconds: 3600 },
          { name: 'server3', url: 'http://127.0.0.1:9/', pingIntervalSeconds: 3600 },
        ],
        deleteGuard: { maxDeletes: 1, windowSeconds: 60 },
      },
      { replay: false },
    );
  });
  afterAll(async () => relay?.close());

  it('DELETE /v1/changes/{id}?Peer=server2 is refused, and the change stays for both peers', async () => {
    const id = await post(relay, NODE_A_TOKEN, { action: 'makedir', path: '/user_homes/keep' });
    const res = await admin(relay, 'DELETE', `/v1/changes/${id}?Peer=server2`);
    const peers = async () => {
      const show = await admin(relay, 'GET', `/v1/changes/${id}`);
      if (show.status === 404) return []; // dropped for every peer
      return ((await show.json()) as { peers: { peer: string }[] }).peers.map((p) => p.peer).sort();
    };
    const after = await peers();
    expect({ status: res.status, after }).toEqual({ status: 400, after: ['server2', 'server3'] });
    expect(await res.json()).toEqual({
      error: { code: 'BAD_REQUEST', message: 'Peer: not a known field or parameter' },
    });
  });

  it('POST /v1/holds/release?Node=node-a is refused, and node-b’s held deletes stay held', async () => {
    for (const token of [NODE_A_TOKEN, NODE_B_TOKEN]) {
      for (const n of [1, 2])
        await post(relay, token, { action: 'delete', path: `/user_homes/${token.slice(10, 16)}-${n}` });
    }
    const held = async () =>
      (
        (await (await admin(relay, 'GET', '/v1/changes?status=HELD')).json()) as { items: { node: string }[] }
      ).items.map((c) => c.node);
    expect((await held()).sort()).toEqual(['node-a', 'node-b']);
    const res = await admin(relay, 'POST', '/v1/holds/release?Node=node-a');
    const body = await res.json();
    expect({ status: res.status, held: (await held()).sort(), body }).toMatchObject({
      status: 400,
      held: ['node-a', 'node-b'],
    });
  });
});
