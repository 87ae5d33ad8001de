import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, auth, jsonHeaders, NODE_A_TOKEN, startTestRelay, type TestRelay } from '../support/relay.js';

// The jobs endpoints' refusals: each a status, a code and a message, and nothing started.

describe('jobs API refusals', () => {
  let relay: TestRelay;
  beforeAll(async () => {
    relay = await startTestRelay({
      peers: [{ name: 'server2', url: 'http://127.0.0.1:9/', pingIntervalSeconds: 3600 }],
      sources: [{ name: 'primary', url: 'http://127.0.0.1:9/' }],
    });
  });
  afterAll(async () => relay?.close());

  const post = (path: string, body: unknown, token = ADMIN_TOKEN) =>
    fetch(`${relay.url}${path}`, { method: 'POST', headers: jsonHeaders(token), body: JSON.stringify(body) });
  const get = (path: string, token = ADMIN_TOKEN) => fetch(`${relay.url}${path}`, { headers: auth(token) });

  it.each([
    ['/v1/peers/server2/verify', { from: 'primary', delete: true }, 400, 'BAD_REQUEST'],
    ['/v1/peers/server2/verify', {}, 400, 'BAD_REQUEST'],
    ['/v1/peers/server2/resync', { from: 'primary', path: '/user_homes/../etc' }, 400, 'BAD_PATH'],
    ['/v1/peers/server2/resync', { from: 'primary', path: '/elsewhere' }, 422, 'PATH_NOT_REPLICATED'],
    ['/v1/peers/server2/resync', { from: 'server2' }, 422, 'SAME_PEER'],
    ['/v1/peers/server2/resync', { from: 'nobody' }, 404, 'SOURCE_NOT_FOUND'],
    ['/v1/peers/nobody/verify', { from: 'primary' }, 404, 'PEER_NOT_FOUND'],
  ])('POST %s %j → %i %s', async (path, body, status, code) => {
    const res = await post(path, body);
    expect(res.status).toBe(status);
    expect(await res.json()).toMatchObject({ error: { code, message: expect.any(String) } });
    const jobs = (await (await get('/v1/jobs')).json()) as { items: unknown[] };
    expect(jobs.items).toEqual([]);
  });

  it('needs the admin token', async () => {
    expect((await fetch(`${relay.url}/v1/jobs`)).status).toBe(401);
    const res = await post('/v1/peers/server2/verify', { from: 'primary' }, NODE_A_TOKEN);
    expect(res.status).toBe(403);
    expect((await get('/v1/jobs', NODE_A_TOKEN)).status).toBe(403);
  });

  it('refuses unknown and malformed job ids and cursors', async () => {
    expect(await (await get('/v1/jobs/20261127T055429693Z-000000-9f2c1a')).json()).toMatchObject({
      error: { code: 'JOB_NOT_FOUND' },
    });
    const bad = await get('/v1/jobs/not-a-job');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: 'BAD_ID' } });
    const cursor = await get('/v1/jobs/20261127T055429693Z-000000-9f2c1a/differences?cursor=abc');
    expect(cursor.status).toBe(400);
    const cancel = await fetch(`${relay.url}/v1/jobs/20261127T055429693Z-000000-9f2c1a`, {
      method: 'DELETE',
      headers: auth(ADMIN_TOKEN),
    });
    expect(cancel.status).toBe(404);
  });

  it('a job against an unreachable source ends FAILED with a reason naming it', async () => {
    const res = await post('/v1/peers/server2/verify', { from: 'primary', path: '/user_homes' });
    expect(res.status).toBe(202);
    const { id, kind, status } = (await res.json()) as { id: string; kind: string; status: string };
    expect({ kind, status }).toEqual({ kind: 'verify', status: 'RUNNING' });
    let job: { status: string; error: string | null } = { status: 'RUNNING', error: null };
    for (let i = 0; i < 200 && job.status === 'RUNNING'; i++) {
      job = (await (await get(`/v1/jobs/${id}`)).json()) as typeof job;
      if (job.status === 'RUNNING') await new Promise((r) => setTimeout(r, 50));
    }
    expect(job.status).toBe('FAILED');
    expect(job.error).toMatch(/cannot reach (primary|server2)/);
  });

  it('describes the jobs endpoints in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${relay.url}/openapi.json`)).json()) as { paths: Record<string, object> };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/jobs',
        '/v1/jobs/{id}',
        '/v1/jobs/{id}/differences',
        '/v1/peers/{name}/verify',
        '/v1/peers/{name}/resync',
      ]),
    );
  });
});
