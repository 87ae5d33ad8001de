import { afterEach, expect, it } from 'vitest';
import { apacheAvailable, peerConfig, startApache } from '../support/apache.js';
import { waitFor } from '../support/node-client.js';
import { ADMIN_TOKEN, auth, NODE_A_TOKEN, startTestRelay } from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';
import { sha256 } from '../support/tree-model.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describeWithServer('Apache httpd (apt-get install apache2)', apacheAvailable, 'configuration documents', () => {
  it('replicates creates, updates and deletes of users and jobs, in order, through an outage', async () => {
    const server = await startApache();
    cleanups.push(() => server.close());
    const t = await startTestRelay({
      peers: [peerConfig(server, 'server2')],
    });
    cleanups.push(() => t.close());
    const put = async (scope: string, name: string, body: string, type: string) => {
      const res = await fetch(`${t.url}/v1/config/${scope}/${encodeURIComponent(name)}`, {
        method: 'PUT',
        headers: auth(NODE_A_TOKEN, { 'content-type': type }),
        body,
      });
      expect(res.status).toBe(202);
    };
    const remove = async (scope: string, name: string) => {
      const res = await fetch(`${t.url}/v1/config/${scope}/${encodeURIComponent(name)}`, {
        method: 'DELETE',
        headers: auth(NODE_A_TOKEN),
      });
      expect(res.status).toBe(202);
    };
    const john1 = '<?xml version="1.0"?><user><username>john</username><max_logins>1</max_logins></user>';
    const john2 = '<?xml version="1.0"?><user><username>john</username><max_logins>5</max_logins></user>';
    const mary = '<?xml version="1.0"?><user><username>mary</username></user>';
    const nightly = JSON.stringify({ name: 'nightly', schedule: '0 2 * * *' });

    await put('users', 'john.XML', john1, 'application/xml');
    await waitFor(async () => (await server.tree()).has('.vfs-relay/config/users/john.XML'), 10_000);

    await server.stop();
    await put('jobs', 'nightly.json', nightly, 'application/json');
    await put('users', 'john.XML', john2, 'application/xml');
    await put('users', 'mary.XML', mary, 'text/xml');
    await remove('jobs', 'nightly.json');
    await waitFor(async () => {
      const [peer] = (await (await fetch(`${t.url}/v1/peers`, { headers: auth(ADMIN_TOKEN) })).json()) as {
        status: string;
        pending: number;
      }[];
      return peer!.status === 'OFFLINE' && peer!.pending === 4;
    }, 10_000);

    await server.start();
    await waitFor(async () => {
      const [peer] = (await (await fetch(`${t.url}/v1/peers`, { headers: auth(ADMIN_TOKEN) })).json()) as {
        pending: number;
      }[];
      return peer!.pending === 0 && t.relay.replayer.inFlight === 0;
    }, 20_000);
    const tree = await server.tree();
    expect(tree.get('.vfs-relay/config/users/john.XML')).toBe(sha256(Buffer.from(john2)));
    expect(tree.get('.vfs-relay/config/users/mary.XML')).toBe(sha256(Buffer.from(mary)));
    expect(tree.has('.vfs-relay/config/jobs/nightly.json')).toBe(false);
    // In order: the job was created before it was deleted, never after.
    const jobRequests = (await server.requests())
      .filter((r) => r.path === '/.vfs-relay/config/jobs/nightly.json')
      .map((r) => r.method);
    expect(jobRequests).toEqual(['PUT', 'DELETE']);
  }, 60_000);
  it('parks a document the peer refuses as CONFLICT; other scopes flow, a later version of it waits; retry releases', async () => {
    const server = await startApache();
    cleanups.push(() => server.close());
    const t = await startTestRelay({ peers: [peerConfig(server, 'server2')] });
    cleanups.push(() => t.close());
    const basic = { authorization: `Basic ${Buffer.from(`${server.username}:${server.password}`).toString('base64')}` };
    // Someone left a file where the peer's users folder belongs: the folder cannot be made, so no PUT below it.
    for (const folder of ['.vfs-relay/', '.vfs-relay/config/']) {
      expect((await fetch(`${server.url}${folder}`, { method: 'MKCOL', headers: basic })).status).toBe(201);
    }
    const squat = await fetch(`${server.url}.vfs-relay/config/users`, { method: 'PUT', headers: basic, body: 'x' });
    expect(squat.status).toBe(201);

    const put = async (scope: string, name: string, body: string) => {
      const res = await fetch(`${t.url}/v1/config/${scope}/${name}`, {
        method: 'PUT',
        headers: auth(NODE_A_TOKEN, { 'content-type': 'application/xml' }),
        body,
      });
      expect(res.status).toBe(202);
      return ((await res.json()) as { id: string }).id;
    };
    const view = async (id: string) =>
      (await (await fetch(`${t.url}/v1/changes/${id}`, { headers: auth(ADMIN_TOKEN) })).json()) as {
        status: string;
        peers: { lastError?: string; blockedBy?: string }[];
      };
    const john1 = '<user><username>john</username><max_logins>1</max_logins></user>';
    const john2 = '<user><username>john</username><max_logins>5</max_logins></user>';
    const first = await put('users', 'john.XML', john1);
    await waitFor(async () => (await view(first)).status === 'CONFLICT', 10_000);
    expect((await view(first)).peers[0]!.lastError).toMatch(/^MKCOL \/.vfs-relay\/config\/users: HTTP 4\d\d/);
    const job = await put('jobs', 'nightly.XML', '<job><name>nightly</name></job>');
    const second = await put('users', 'john.XML', john2);
    await waitFor(async () => (await server.tree()).has('.vfs-relay/config/jobs/nightly.XML'), 10_000);
    expect(job).toBeDefined();
    expect(await view(second)).toMatchObject({ status: 'BLOCKED', peers: [{ blockedBy: first }] });

    // The operator clears the squatter and retries: both versions land, in order, the newer one last.
    expect((await fetch(`${server.url}.vfs-relay/config/users`, { method: 'DELETE', headers: basic })).status).toBe(
      204,
    );
    const retry = await fetch(`${t.url}/v1/changes/${first}/retry`, { method: 'POST', headers: auth(ADMIN_TOKEN) });
    expect(retry.status).toBe(200);
    await waitFor(async () => {
      const [peer] = (await (await fetch(`${t.url}/v1/peers`, { headers: auth(ADMIN_TOKEN) })).json()) as {
        pending: number;
        conflicts: number;
      }[];
      return peer!.pending === 0 && peer!.conflicts === 0 && t.relay.replayer.inFlight === 0;
    }, 20_000);
    expect((await server.tree()).get('.vfs-relay/config/users/john.XML')).toBe(sha256(Buffer.from(john2)));
    const puts = (await server.requests()).filter(
      (r) => r.method === 'PUT' && r.path === '/.vfs-relay/config/users/john.XML' && r.status < 300,
    );
    expect(puts).toHaveLength(2);
  }, 60_000);
});
