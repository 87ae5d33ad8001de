import { afterEach, expect, it } from 'vitest';
import { apacheAvailable, peerConfig, startApache } from '../support/apache.js';
import { postChange, waitFor } from '../support/node-client.js';
import { ADMIN_TOKEN, auth, jsonHeaders, NODE_A_TOKEN, NODE_B_TOKEN, startTestRelay } from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';
import { sha256 } from '../support/tree-model.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describeWithServer('Apache httpd (apt-get install apache2)', apacheAvailable, 'active-active through one relay', () => {
  it('sends each node’s change to the other node only, and drops the echo of a replica', async () => {
    const a = await startApache();
    const b = await startApache();
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    const t = await startTestRelay({
      peers: [peerConfig(a, 'server-a', { node: 'node-a' }), peerConfig(b, 'server-b', { node: 'node-b' })],
    });
    cleanups.push(() => t.close());

    const body = Buffer.from('made on A');
    const id = await postChange(t.url, NODE_A_TOKEN, { action: 'upload', path: '/user_homes/john/deep/a.txt', body });
    await waitFor(async () => (await b.tree()).get('user_homes/john/deep/a.txt') === sha256(body), 10_000);
    expect((await a.tree()).has('user_homes/john/deep/a.txt')).toBe(false); // never sent back to A
    expect(await (await fetch(`${t.url}/v1/changes/${id}`, { headers: auth(ADMIN_TOKEN) })).status).toBe(404);

    // B's node sees the replica (and the folders created for it) appear and reports them: echoes.
    const report = async (token: string, change: object) =>
      (await (
        await fetch(`${t.url}/v1/changes`, {
          method: 'POST',
          headers: jsonHeaders(token),
          body: JSON.stringify(change),
        })
      ).json()) as {
        status: string;
        reason?: string;
      };
    expect(await report(NODE_B_TOKEN, { action: 'makedir', path: '/user_homes/john/deep' })).toEqual({
      status: 'IGNORED',
      reason: 'ECHO',
    });
    expect(
      await report(NODE_B_TOKEN, {
        action: 'upload',
        path: '/user_homes/john/deep/a.txt',
        size: body.length,
        sha256: sha256(body),
      }),
    ).toEqual({
      status: 'IGNORED',
      reason: 'ECHO',
    });
    // The same path with other content is a real change on B: it goes to A.
    const edited = Buffer.from('edited on B');
    await postChange(t.url, NODE_B_TOKEN, { action: 'upload', path: '/user_homes/john/deep/a.txt', body: edited });
    await waitFor(async () => (await a.tree()).get('user_homes/john/deep/a.txt') === sha256(edited), 10_000);

    const peers = (await (await fetch(`${t.url}/v1/peers`, { headers: auth(ADMIN_TOKEN) })).json()) as {
      name: string;
      echoesSuppressed?: number;
    }[];
    expect(peers.find((p) => p.name === 'server-b')?.echoesSuppressed).toBe(2);
    expect(peers.find((p) => p.name === 'server-a')?.echoesSuppressed).toBe(0);
    // B received only A's file; A received only B's edit.
    const puts = async (s: typeof a) => (await s.requests()).filter((r) => r.method === 'PUT').map((r) => r.path);
    expect(await puts(b)).toEqual(['/user_homes/john/deep/a.txt']);
    expect(await puts(a)).toEqual(['/user_homes/john/deep/a.txt']);
  }, 60_000);

  it('refuses file changes in the reserved /.vfs-relay/ tree (400 RESERVED_PATH)', async () => {
    const t = await startTestRelay(
      { peers: [{ name: 'x', url: 'http://127.0.0.1:9/' }], vfs: [{ path: '/', replicate: true }] },
      { replay: false },
    );
    cleanups.push(() => t.close());
    const res = await fetch(`${t.url}/v1/changes`, {
      method: 'POST',
      headers: jsonHeaders(NODE_A_TOKEN),
      body: JSON.stringify({ action: 'delete', path: '/.vfs-relay/config/users/john' }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('RESERVED_PATH');
  });
});
