import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FsJournalStore, JOURNAL_DIR } from '../../src/adapters/fs-journal/store.js';
import { PinoLogger } from '../../src/adapters/log/pino-logger.js';
import { SMALL_BODY_BYTES } from '../../src/core/journal.js';
import { CONFIG_LOCATION, laneId } from '../../src/core/lane.js';
import { heldBody } from '../support/held-body.js';
import { waitFor } from '../support/node-client.js';
import {
  ADMIN_TOKEN,
  auth,
  jsonHeaders,
  NODE_A_TOKEN,
  NODE_B_TOKEN,
  startTestRelay,
  type TestRelay,
} from '../support/relay.js';
import { fileHandlePrototype, tempDir, treeSnapshot } from '../support/tmp.js';

const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const LANE_2 = laneId('/user_homes', 'server2');
const LANE_3 = laneId('/user_homes', 'server3');

describe('HTTP API', () => {
  let t: TestRelay;
  const request = (path: string, init: RequestInit = {}) => t.relay.app.request(path, init);
  const post = (path: string, body: unknown, token = NODE_A_TOKEN) =>
    request(path, { method: 'POST', headers: jsonHeaders(token), body: JSON.stringify(body) });
  const entryDir = (lane: string, id: string) => join(t.journal, JOURNAL_DIR, lane, id);
  /**
   * Small uploads are durable in the write-ahead log when the relay answers; their entry folders are written a
   * moment later (README, The journal). Waits (bounded) until that lane's folder is there.
   */
  const inJournal = (lane: string, id: string) =>
    waitFor(
      async () => (await readFile(join(entryDir(lane, id), 'config.XML')).catch(() => undefined)) !== undefined,
      5_000,
    );

  beforeAll(async () => {
    t = await startTestRelay(
      {
        peers: [
          // Closed ports: nothing listens, so pings find the peers OFFLINE.
          { name: 'server2', url: 'http://127.0.0.1:9/dav/', username: 'replication', password: 'secret-pw' },
          { name: 'server3', url: 'http://127.0.0.1:9/', node: 'node-b' },
        ],
        vfs: [
          { path: '/user_homes', replicate: true },
          { path: '/user_homes/private', replicate: false },
        ],
      },
      // The API over a journal nobody else writes: replay has its own suites.
      { replay: false },
    );
  });
  afterAll(() => t.close());

  it('answers /healthz and /livez without a token', async () => {
    const res = await request('/healthz');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
    expect(await (await request('/livez')).json()).toEqual({ status: 'alive' });
  });

  it('describes every endpoint in /openapi.json', async () => {
    const res = await request('/openapi.json');
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toMatch(/^3\./);
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(operations.sort()).toEqual(
      [
        'GET /healthz',
        'GET /livez',
        'POST /v1/changes',
        'GET /v1/changes',
        'PUT /v1/changes/{id}/body',
        'POST /v1/changes/{id}/commit',
        'POST /v1/changes/{id}/abandon',
        'GET /v1/changes/{id}',
        'POST /v1/changes/{id}/retry',
        'DELETE /v1/changes/{id}',
        'PUT /v1/config/{scope}/{name}',
        'DELETE /v1/config/{scope}/{name}',
        'GET /v1/peers',
        'POST /v1/peers/{name}/ping',
        'POST /v1/uploads',
        // Operator surfaces, mounted by the Node runtime (the web console's own page and panel are not API).
        'GET /metrics',
        'GET /v1/stats/throughput',
        // Convergence jobs (docs/convergence.md).
        'POST /v1/peers/{name}/verify',
        'POST /v1/peers/{name}/resync',
        'GET /v1/jobs',
        'GET /v1/jobs/{id}',
        'GET /v1/jobs/{id}/differences',
        'DELETE /v1/jobs/{id}',
        // The delete guard's bulk actions (docs/delete-guard.md).
        'POST /v1/holds/release',
        'POST /v1/holds/discard',
      ].sort(),
    );
    expect(JSON.stringify(doc)).toContain('"NewChange"');
  });

  it('journals a makedir once per peer lane, PENDING', async () => {
    const res = await post('/v1/changes', { action: 'makedir', path: '/user_homes/john/docs', user: 'john' });
    expect(res.status).toBe(202);
    const { id, status } = (await res.json()) as { id: string; status: string };
    expect(status).toBe('PENDING');
    for (const lane of [LANE_2, LANE_3]) {
      const xml = await readFile(join(entryDir(lane, id), 'config.XML'), 'utf8');
      expect(xml).toContain('<action>makedir</action>');
      expect(xml).toContain('<path>/user_homes/john/docs</path>');
      expect(xml).toContain('<node>node-a</node>');
      expect(xml).not.toContain('secret-pw');
    }
  });

  it('takes an upload in three steps: change, body, commit', async () => {
    const body = Buffer.from('hello, secondary\n'.repeat(1000));
    const res = await post('/v1/changes', {
      action: 'upload',
      path: '/user_homes/john/a b.txt',
      size: body.length,
      sha256: sha(body).toUpperCase(),
      user: 'john',
    });
    expect(res.status).toBe(201);
    const accepted = (await res.json()) as {
      id: string;
      status: string;
      upload: { method: string; url: string; headers: Record<string, string> };
    };
    expect(accepted.status).toBe('AWAITING_BODY');
    expect(accepted.upload.method).toBe('PUT');
    // The listen address (not this request's Host, "localhost"), and a key nobody can guess.
    expect(accepted.upload.url).toMatch(new RegExp(`^${t.url}/v1/changes/${accepted.id}/body\\?key=[\\w-]{22}$`));

    // Over the real listening server: the body streams through Node's HTTP stack.
    const url = accepted.upload.url;
    const put = await fetch(url, {
      method: 'PUT',
      headers: { ...accepted.upload.headers, ...auth(NODE_A_TOKEN) },
      body,
    });
    expect(put.status).toBe(200);
    expect(await put.json()).toEqual({ id: accepted.id, size: body.length, sha256: sha(body) });

    const before = await request(`/v1/changes/${accepted.id}`, { headers: auth(ADMIN_TOKEN) });
    expect(((await before.json()) as { status: string }).status).toBe('AWAITING_BODY');

    const commit = await fetch(`${t.url}/v1/changes/${accepted.id}/commit`, {
      method: 'POST',
      headers: auth(NODE_A_TOKEN),
    });
    expect(commit.status).toBe(200);
    expect(await commit.json()).toEqual({ id: accepted.id, status: 'PENDING' });
    for (const lane of [LANE_2, LANE_3]) await inJournal(lane, accepted.id);
    for (const lane of [LANE_2, LANE_3]) {
      expect((await readFile(join(entryDir(lane, accepted.id), 'upload'))).equals(body)).toBe(true);
      expect(await readFile(join(entryDir(lane, accepted.id), 'config.XML'), 'utf8')).toContain(
        '<status>PENDING</status>',
      );
    }
  });

  it('takes an upload in one request (POST /v1/uploads), durable when it answers', async () => {
    const body = Buffer.from('one round trip\n'.repeat(100));
    const query = new URLSearchParams({
      path: '/user_homes/john/one shot.txt',
      size: String(body.length),
      sha256: sha(body),
      user: 'john',
    });
    const res = await fetch(`${t.url}/v1/uploads?${query}`, {
      method: 'POST',
      headers: auth(NODE_A_TOKEN, { 'content-type': 'application/octet-stream' }),
      body,
    });
    expect(res.status).toBe(201);
    const { id, status } = (await res.json()) as { id: string; status: string };
    expect(status).toBe('PENDING');
    for (const lane of [LANE_2, LANE_3]) await inJournal(lane, id);
    for (const lane of [LANE_2, LANE_3]) {
      expect((await readFile(join(entryDir(lane, id), 'upload'))).equals(body)).toBe(true);
      const xml = await readFile(join(entryDir(lane, id), 'config.XML'), 'utf8');
      expect(xml).toContain('<status>PENDING</status>');
      expect(xml).toContain('<path>/user_homes/john/one shot.txt</path>');
      expect(xml).toContain('<user>john</user>');
    }
  });

  it('streams a one-request upload above the in-memory limit to disk, and refuses one that runs over', async () => {
    const body = Buffer.alloc(SMALL_BODY_BYTES + 4096, 7);
    const query = new URLSearchParams({
      path: '/user_homes/john/big.bin',
      size: String(body.length),
      sha256: sha(body),
    });
    const res = await fetch(`${t.url}/v1/uploads?${query}`, { method: 'POST', headers: auth(NODE_A_TOKEN), body });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    for (const lane of [LANE_2, LANE_3]) {
      expect((await readFile(join(entryDir(lane, id), 'upload'))).equals(body)).toBe(true);
    }
    const before = await treeSnapshot(t.journal);
    const short = new URLSearchParams({ path: '/user_homes/john/big2.bin', size: String(SMALL_BODY_BYTES + 1) });
    const over = await fetch(`${t.url}/v1/uploads?${short}`, { method: 'POST', headers: auth(NODE_A_TOKEN), body });
    expect(over.status).toBe(413);
    expect(((await over.json()) as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(await treeSnapshot(t.journal)).toEqual(before);
  });

  it.each([
    ['a wrong checksum', { sha256: 'f'.repeat(64) }, 422, 'CHECKSUM_MISMATCH'],
    ['a shorter body than declared', { size: '999' }, 422, 'SIZE_MISMATCH'],
    ['a longer body than declared', { size: '3' }, 413, 'PAYLOAD_TOO_LARGE'],
    ['a bad path', { path: '/user_homes/../etc' }, 400, 'BAD_PATH'],
    ['no size', { size: undefined }, 400, 'BAD_REQUEST'],
  ])('refuses a one-request upload with %s and keeps nothing', async (_name, override, status, code) => {
    const body = Buffer.from('0123456789');
    const params: Record<string, string | undefined> = {
      path: '/user_homes/john/refused.txt',
      size: String(body.length),
      sha256: sha(body),
      ...override,
    };
    const query = new URLSearchParams(Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined));
    const before = await treeSnapshot(t.journal);
    const res = await fetch(`${t.url}/v1/uploads?${query}`, { method: 'POST', headers: auth(NODE_A_TOKEN), body });
    expect(res.status).toBe(status);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
    expect(await treeSnapshot(t.journal)).toEqual(before);
  });

  it("answers another node's commit or abandon of an upload whose body is arriving at once, as for an unknown id", async () => {
    const size = 10;
    const created = (await (
      await post('/v1/changes', { action: 'upload', path: '/user_homes/streaming/file.bin', size })
    ).json()) as { id: string; upload: { url: string } };
    // Node A's body arrives slowly: the change's lock is held while the relay reads it.
    const { body, reading, finish } = heldBody(new Uint8Array(size));
    const put = request(created.upload.url, {
      method: 'PUT',
      headers: auth(NODE_A_TOKEN, { 'content-length': String(size) }),
      body,
      duplex: 'half',
    } as RequestInit);
    await reading;
    // Node B's requests do not wait for that lock: a wait would tell B that the id exists.
    for (const action of ['commit', 'abandon']) {
      const answer = await request(`/v1/changes/${created.id}/${action}`, {
        method: 'POST',
        headers: auth(NODE_B_TOKEN),
      });
      expect(answer.status).toBe(404);
      expect(((await answer.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    }
    finish();
    expect((await put).status).toBe(200);
    const commit = await request(`/v1/changes/${created.id}/commit`, { method: 'POST', headers: auth(NODE_A_TOKEN) });
    expect(commit.status).toBe(200);
  });

  it('lets a node give up an upload it has not committed: gone at once, and what waited behind it goes on', async () => {
    const path = '/user_homes/abandoned/file.bin';
    const first = (await (await post('/v1/changes', { action: 'upload', path, size: 10 })).json()) as { id: string };
    const behind = (await (await post('/v1/changes', { action: 'delete', path })).json()) as { id: string };
    const show = async (id: string) => request(`/v1/changes/${id}`, { headers: auth(ADMIN_TOKEN) });
    const statusOf = async (id: string) =>
      ((await (await show(id)).json()) as { peers: { status: string }[] }).peers.map((p) => p.status);
    expect(await statusOf(behind.id)).toEqual(['BLOCKED', 'BLOCKED']);

    const abandon = (id: string, token: string) =>
      request(`/v1/changes/${id}/abandon`, { method: 'POST', headers: auth(token) });
    // Another node gets exactly what an unknown id gets; the change is untouched.
    const other = await abandon(first.id, NODE_B_TOKEN);
    expect(other.status).toBe(404);
    expect(((await other.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    expect((await show(first.id)).status).toBe(200);

    const gone = await abandon(first.id, NODE_A_TOKEN);
    expect(gone.status).toBe(200);
    expect(await gone.json()).toEqual({ id: first.id, abandoned: true });
    expect((await show(first.id)).status).toBe(404);
    expect(await statusOf(behind.id)).toEqual(['PENDING', 'PENDING']);
    // Its body and commit now answer as for a change the relay dropped: the node starts over.
    expect(
      (await request(`/v1/changes/${first.id}/commit`, { method: 'POST', headers: auth(NODE_A_TOKEN) })).status,
    ).toBe(404);
    expect((await abandon(first.id, NODE_A_TOKEN)).status).toBe(404);

    // A committed upload cannot be given up.
    const done = (await (
      await post('/v1/changes', { action: 'upload', path: '/user_homes/abandoned/e', size: 0 })
    ).json()) as {
      id: string;
      upload: { url: string };
    };
    await request(done.upload.url, { method: 'PUT', headers: auth(NODE_A_TOKEN) });
    await request(`/v1/changes/${done.id}/commit`, { method: 'POST', headers: auth(NODE_A_TOKEN) });
    const late = await abandon(done.id, NODE_A_TOKEN);
    expect(late.status).toBe(409);
    expect(((await late.json()) as { error: { code: string } }).error.code).toBe('ALREADY_COMMITTED');
  });

  it('takes an empty upload (size 0)', async () => {
    const res = await post('/v1/changes', { action: 'upload', path: '/user_homes/john/empty', size: 0 });
    const { id, upload } = (await res.json()) as { id: string; upload: { url: string } };
    expect((await request(upload.url, { method: 'PUT', headers: auth(NODE_A_TOKEN) })).status).toBe(200);
    expect((await request(`/v1/changes/${id}/commit`, { method: 'POST', headers: auth(NODE_A_TOKEN) })).status).toBe(
      200,
    );
    await inJournal(LANE_2, id);
    expect((await readFile(join(entryDir(LANE_2, id), 'upload'))).length).toBe(0);
  });

  it.each([
    [{ action: 'delete', path: '/user_homes/john/x', user: 'replication' }, 'REPLICATION_USER'],
    [{ action: 'delete', path: '/elsewhere/x' }, 'NOT_REPLICATED'],
    [{ action: 'delete', path: '/user_homes/private/x' }, 'NOT_REPLICATED'],
  ])('ignores %j (%s) and journals nothing', async (change, reason) => {
    const lanesBefore = await readdir(join(t.journal, JOURNAL_DIR));
    const counts = await Promise.all(
      lanesBefore.map((l) => readdir(join(t.journal, JOURNAL_DIR, l)).then((x) => x.length)),
    );
    const res = await post('/v1/changes', change);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'IGNORED', reason });
    const after = await Promise.all(
      lanesBefore.map((l) => readdir(join(t.journal, JOURNAL_DIR, l)).then((x) => x.length)),
    );
    expect(after).toEqual(counts);
  });

  it("does not send a node's change back to its own server (peer.node)", async () => {
    const res = await post('/v1/changes', { action: 'delete', path: '/user_homes/from-b' }, NODE_B_TOKEN);
    const { id } = (await res.json()) as { id: string };
    const change = (await (await request(`/v1/changes/${id}`, { headers: auth(ADMIN_TOKEN) })).json()) as {
      peers: { peer: string }[];
      node: string;
    };
    expect(change.node).toBe('node-b');
    expect(change.peers.map((p) => p.peer)).toEqual(['server2']);
  });

  it('normalises a trailing slash and lowercases the checksum', async () => {
    const res = await post('/v1/changes', { action: 'makedir', path: '/user_homes/trailing/' });
    const { id } = (await res.json()) as { id: string };
    const change = (await (await request(`/v1/changes/${id}`, { headers: auth(ADMIN_TOKEN) })).json()) as {
      path: string;
    };
    expect(change.path).toBe('/user_homes/trailing');
  });

  it('lists changes oldest first with cursor pagination and filters', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await post('/v1/changes', {
        action: 'mdtm',
        path: `/user_homes/p${i}`,
        modified: '2026-11-27T05:54:29.693Z',
      });
      ids.push(((await res.json()) as { id: string }).id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `/v1/changes?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = (await (await request(query, { headers: auth(ADMIN_TOKEN) })).json()) as {
        items: { id: string }[];
        next: string | null;
      };
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((i) => i.id));
      cursor = page.next;
    } while (cursor);
    expect(seen).toEqual([...seen].sort());
    expect(seen.slice(-5)).toEqual(ids);
    const onlyServer3 = (await (
      await request('/v1/changes?peer=server3&limit=1000', { headers: auth(ADMIN_TOKEN) })
    ).json()) as {
      items: { peers: { peer: string }[] }[];
    };
    expect(onlyServer3.items.every((c) => c.peers.every((p) => p.peer === 'server3'))).toBe(true);
    const fromB = (await (
      await post('/v1/changes', { action: 'makedir', path: '/user_homes/by-b' }, NODE_B_TOKEN)
    ).json()) as { id: string };
    const byNode = async (node: string) =>
      (
        (await (await request(`/v1/changes?node=${node}&limit=1000`, { headers: auth(ADMIN_TOKEN) })).json()) as {
          items: { id: string; node?: string }[];
        }
      ).items;
    const [a, b] = [await byNode('node-a'), await byNode('node-b')];
    expect(a.map((c) => c.id)).toEqual(expect.arrayContaining(ids));
    expect(a.every((c) => c.node === 'node-a')).toBe(true);
    expect(b.map((c) => c.id)).toContain(fromB.id);
    expect(b.every((c) => c.node === 'node-b')).toBe(true);
    expect(await byNode('node-c')).toEqual([]);
    const awaiting = (await (
      await request('/v1/changes?status=AWAITING_BODY', { headers: auth(ADMIN_TOKEN) })
    ).json()) as {
      items: unknown[];
    };
    expect(awaiting.items).toEqual([]);
  });

  it('derives BLOCKED behind a CONFLICT, retries it, and skip releases what waited', async () => {
    const conflict = (await (
      await post('/v1/changes', { action: 'rename', path: '/user_homes/c/src', target: '/user_homes/c/dst' })
    ).json()) as { id: string };
    const behind = (await (
      await post('/v1/changes', { action: 'delete', path: '/user_homes/c/dst/inner' })
    ).json()) as { id: string };
    const unrelated = (await (await post('/v1/changes', { action: 'delete', path: '/user_homes/other' })).json()) as {
      id: string;
    };
    // Park the rename for server2 as the replayer would.
    const parked = (await t.relay.store.read({ lane: LANE_2, id: conflict.id }))!;
    await t.relay.store.update({
      ...parked,
      status: 'CONFLICT',
      attempts: 1,
      lastError: 'MOVE: rename source missing',
    });

    const show = async (id: string) =>
      (await (await request(`/v1/changes/${id}`, { headers: auth(ADMIN_TOKEN) })).json()) as {
        status: string;
        peers: { peer: string; status: string; blockedBy?: string; lastError?: string }[];
      };
    expect((await show(conflict.id)).status).toBe('CONFLICT');
    const blocked = await show(behind.id);
    expect(blocked.peers.find((p) => p.peer === 'server2')).toMatchObject({
      status: 'BLOCKED',
      blockedBy: conflict.id,
    });
    expect(blocked.peers.find((p) => p.peer === 'server3')?.status).toBe('PENDING');
    expect((await show(unrelated.id)).status).toBe('PENDING');
    const blockedList = (await (
      await request('/v1/changes?status=BLOCKED', { headers: auth(ADMIN_TOKEN) })
    ).json()) as {
      items: { id: string }[];
    };
    expect(blockedList.items.map((i) => i.id)).toEqual([behind.id]);

    const retry = await request(`/v1/changes/${conflict.id}/retry?peer=server2`, {
      method: 'POST',
      headers: auth(ADMIN_TOKEN),
    });
    expect(retry.status).toBe(200);
    expect((await show(conflict.id)).peers.every((p) => p.status === 'PENDING')).toBe(true);
    expect((await show(behind.id)).status).toBe('PENDING');

    await t.relay.store.update({ ...parked, status: 'CONFLICT', attempts: 2 });
    const skip = await request(`/v1/changes/${conflict.id}?peer=server2`, {
      method: 'DELETE',
      headers: auth(ADMIN_TOKEN),
    });
    expect(skip.status).toBe(200);
    expect(await skip.json()).toEqual({ id: conflict.id, skipped: ['server2'] });
    expect((await show(behind.id)).peers.find((p) => p.peer === 'server2')?.status).toBe('PENDING');
    // server3's entry of the skipped change is untouched.
    expect((await show(conflict.id)).peers.map((p) => p.peer)).toEqual(['server3']);
    expect((await request(`/v1/changes/${conflict.id}`, { method: 'DELETE', headers: auth(ADMIN_TOKEN) })).status).toBe(
      200,
    );
    expect((await request(`/v1/changes/${conflict.id}`, { headers: auth(ADMIN_TOKEN) })).status).toBe(404);
  });

  it('journals configuration documents and their deletion', async () => {
    const doc = '<?xml version="1.0"?><user><name>john</name></user>';
    const put = await request('/v1/config/users/john.XML', {
      method: 'PUT',
      headers: auth(NODE_A_TOKEN, { 'content-type': 'application/xml' }),
      body: doc,
    });
    expect(put.status).toBe(202);
    const { id } = (await put.json()) as { id: string };
    const lane = laneId(CONFIG_LOCATION, 'server2');
    await inJournal(lane, id);
    expect(await readFile(join(entryDir(lane, id), 'upload'), 'utf8')).toBe(doc);
    const xml = await readFile(join(entryDir(lane, id), 'config.XML'), 'utf8');
    expect(xml).toContain('<action>config_put</action>');
    expect(xml).toContain('<path>/.vfs-relay/config/users/john.XML</path>');
    expect(xml).toContain('<status>PENDING</status>');
    expect(xml).toContain(`<sha256>${sha(doc)}</sha256>`);

    const json = await request('/v1/config/jobs/nightly', {
      method: 'PUT',
      headers: auth(NODE_A_TOKEN, { 'content-type': 'application/json' }),
      body: JSON.stringify({ schedule: '0 2 * * *' }),
    });
    expect(json.status).toBe(202);
    const del = await request('/v1/config/users/john.XML', { method: 'DELETE', headers: auth(NODE_A_TOKEN) });
    expect(del.status).toBe(202);
    const delId = ((await del.json()) as { id: string }).id;
    expect(await readFile(join(entryDir(lane, delId), 'config.XML'), 'utf8')).toContain(
      '<action>config_delete</action>',
    );
  });

  it('asks for a bearer token on 401 (WWW-Authenticate), telling a missing one from a bad one', async () => {
    const missing = await request('/v1/changes', { method: 'POST' });
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    const bad = await request('/v1/peers', { headers: auth('no-such-token-0000000000') });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    expect(await bad.json()).toEqual({ error: { code: 'UNAUTHENTICATED', message: 'the bearer token is not valid' } });
  });

  it('lets the admin token act as a node, but never a node token as operator', async () => {
    expect((await post('/v1/changes', { action: 'makedir', path: '/user_homes/admin' }, ADMIN_TOKEN)).status).toBe(202);
    expect((await request('/v1/peers', { headers: auth(NODE_A_TOKEN) })).status).toBe(403);
    expect((await request('/v1/changes', { headers: auth(NODE_A_TOKEN) })).status).toBe(403);
  });

  it('reports peers with backlog and no credentials, and pings them', async () => {
    type PeerRow = {
      name: string;
      url: string;
      pending: number;
      pendingBytes: number;
      status: string;
      oldestPendingAt: string | null;
      awaitingBody: number;
    };
    const rows = async () => (await (await request('/v1/peers', { headers: auth(ADMIN_TOKEN) })).json()) as PeerRow[];
    const awaitingBefore = (await rows())[0]!.awaitingBody;
    const announced = await post('/v1/changes', { action: 'upload', path: '/user_homes/peers/await.bin', size: 3 });
    expect(announced.status).toBe(201); // its body never comes
    const res = await request('/v1/peers', { headers: auth(ADMIN_TOKEN) });
    expect(res.status).toBe(200);
    const peers = (await res.json()) as PeerRow[];
    expect(peers[0]!.awaitingBody).toBe(awaitingBefore + 1);
    expect(peers[0]).toMatchObject({ held: 0 });
    const pending = (await (
      await request('/v1/changes?peer=server2&status=PENDING&limit=1000', { headers: auth(ADMIN_TOKEN) })
    ).json()) as { items: { createdAt: string }[] };
    const oldest = pending.items.map((c) => c.createdAt).sort()[0];
    expect(oldest).toBeDefined();
    expect(peers[0]!.oldestPendingAt).toBe(oldest);
    expect(peers.map((p) => p.name)).toEqual(['server2', 'server3']);
    expect(peers[0]!.url).toBe('http://127.0.0.1:9/dav/');
    expect(JSON.stringify(peers)).not.toContain('secret-pw');
    const fromJournal = (await t.relay.view.backlog()).get('server2')!;
    expect(peers[0]!.pending).toBe(fromJournal.pending);
    expect(peers[0]!.pending).toBeGreaterThan(5);
    expect(peers[0]!.pendingBytes).toBe(fromJournal.pendingBytes);
    expect(peers[0]!.pendingBytes).toBeGreaterThan(17_000);

    const ping = await request('/v1/peers/server2/ping', { method: 'POST', headers: auth(ADMIN_TOKEN) });
    expect(ping.status).toBe(200);
    const pinged = (await ping.json()) as { status: string; lastPingAt: string | null; lastError?: string };
    expect(pinged.status).toBe('OFFLINE');
    expect(pinged.lastPingAt).not.toBeNull();
    expect(pinged.lastError).toMatch(/ECONNREFUSED/);
  });
});

describe('change ids across a restart', () => {
  it('continue after the newest id in the journal, even when the clock is behind it', async () => {
    const tmp = await tempDir();
    const lane = laneId('/user_homes', 'server2');
    // An entry stamped far in the future, as a relay whose clock ran ahead (or a restore from another host) left it.
    const future = '20990101T000000000Z-000000-abcdef';
    const store = await FsJournalStore.open(tmp.dir);
    await store.create([
      {
        lane,
        id: future,
        peer: 'server2',
        location: '/user_homes',
        action: 'makedir',
        path: '/user_homes/future',
        createdAt: new Date().toISOString(),
        status: 'PENDING',
        attempts: 0,
      },
    ]);
    await store.close();
    const t = await startTestRelay(
      { peers: [{ name: 'server2', url: 'http://127.0.0.1:9/' }] },
      { journal: tmp.dir, replay: false },
    );
    try {
      const res = await t.relay.app.request('/v1/changes', {
        method: 'POST',
        headers: jsonHeaders(NODE_A_TOKEN),
        body: JSON.stringify({ action: 'makedir', path: '/user_homes/now' }),
      });
      const { id } = (await res.json()) as { id: string };
      expect(id > future).toBe(true); // lexical order is replay order: the new change must come after
    } finally {
      await t.close();
      await tmp.remove();
    }
  });
});

describe('generated admin token', () => {
  it('is made once in <journal>/admin-token (mode 0600), used, kept across a restart, and never logged', async () => {
    const tmp = await tempDir();
    const lines: string[] = [];
    const start = () =>
      startTestRelay(
        { peers: [], auth: { nodeTokens: { 'node-a': NODE_A_TOKEN } } },
        { journal: tmp.dir, replay: false, logger: new PinoLogger({ sink: (line) => void lines.push(line) }) },
      );
    try {
      let t = await start();
      const file = join(tmp.dir, 'admin-token');
      const token = (await readFile(file, 'utf8')).trim();
      expect(token.length).toBeGreaterThanOrEqual(32);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect((await t.relay.app.request('/v1/peers', { headers: auth(token) })).status).toBe(200);
      expect((await t.relay.app.request('/v1/peers', { headers: auth(NODE_A_TOKEN) })).status).toBe(403);
      await t.close();
      t = await start();
      expect((await readFile(file, 'utf8')).trim()).toBe(token);
      expect((await t.relay.app.request('/v1/peers', { headers: auth(token) })).status).toBe(200);
      await t.close();
      expect(lines.join('')).toContain('no admin token configured: generated one');
      expect(lines.join('')).not.toContain(token);
    } finally {
      await tmp.remove();
    }
  });
});

describe('when the write-ahead log fails', () => {
  it('answers 500 and accepts nothing more until a restart, which keeps everything acknowledged before', async () => {
    const tmp = await tempDir();
    const start = () =>
      startTestRelay({ peers: [{ name: 'server2', url: 'http://127.0.0.1:9/' }] }, { journal: tmp.dir, replay: false });
    const makedir = (t: TestRelay, path: string) =>
      t.relay.app.request('/v1/changes', {
        method: 'POST',
        headers: jsonHeaders(NODE_A_TOKEN),
        body: JSON.stringify({ action: 'makedir', path }),
      });
    const proto = await fileHandlePrototype(tmp.dir);
    let t = await start();
    try {
      expect((await makedir(t, '/user_homes/before')).status).toBe(202);
      const sync = vi
        .spyOn(proto, 'sync')
        .mockRejectedValueOnce(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }));
      const failed = await makedir(t, '/user_homes/lost');
      sync.mockRestore();
      expect(failed.status).toBe(500);
      // Fail-stop: the disk may work again, the relay still refuses until it restarts and re-reads its log.
      const after = await makedir(t, '/user_homes/after');
      expect(after.status).toBe(500);
      expect(JSON.stringify(await after.json())).not.toMatch(/at \w+ \(/); // no stack trace in the answer
      await t.close().catch(() => {}); // its last checkpoint may refuse too
      t = await start();
      const list = await t.relay.app.request('/v1/changes?peer=server2', { headers: auth(ADMIN_TOKEN) });
      const paths = ((await list.json()) as { items: { path: string }[] }).items.map((c) => c.path);
      expect(paths).toContain('/user_homes/before');
      expect(paths).not.toContain('/user_homes/after');
      expect((await makedir(t, '/user_homes/again')).status).toBe(202);
    } finally {
      await t.close();
      await tmp.remove();
    }
  });
});

describe('behind a proxy (publicUrl)', () => {
  it('builds upload URLs from publicUrl instead of the address the request came to', async () => {
    const t = await startTestRelay(
      { peers: [{ name: 'server2', url: 'http://127.0.0.1:9/' }], publicUrl: 'https://relay.example.com/base/' },
      { replay: false },
    );
    try {
      const res = await t.relay.app.request('http://10.0.0.5:8787/v1/changes', {
        method: 'POST',
        headers: jsonHeaders(NODE_A_TOKEN),
        body: JSON.stringify({ action: 'upload', path: '/user_homes/p.bin', size: 1 }),
      });
      expect(res.status).toBe(201);
      const { id, upload } = (await res.json()) as { id: string; upload: { url: string } };
      expect(upload.url).toMatch(new RegExp(`^https://relay.example.com/base/v1/changes/${id}/body\\?key=`));
    } finally {
      await t.close();
    }
  });
});
