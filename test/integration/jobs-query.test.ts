import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, auth, startTestRelay, type TestRelay } from '../support/relay.js';

// docs/api.md: `limit` in query strings is decimal digits only; /v1/changes refused `1e2` and the like with 400, the
// jobs endpoints took them (z.coerce.number) and any cursor (found by a review). Bad input changes nothing.
describe('query strings of the jobs endpoints', () => {
  let relay: TestRelay;
  beforeAll(async () => {
    relay = await startTestRelay({
      peers: [{ name: 'server2', url: 'http://127.0.0.1:9/', pingIntervalSeconds: 3600 }],
      sources: [{ name: 'primary', url: 'http://127.0.0.1:9/' }],
    });
  });
  afterAll(async () => relay?.close());

  const get = (path: string) => fetch(`${relay.url}${path}`, { headers: auth(ADMIN_TOKEN) });

  it.each(['1e2', '0x10', '%2012', '12.0', '+12', '0', '1001'])(
    'limit=%s is 400 BAD_REQUEST, as on /v1/changes',
    async (limit) => {
      for (const path of [`/v1/changes?limit=${limit}`, `/v1/jobs?limit=${limit}`]) {
        const res = await get(path);
        expect(res.status, path).toBe(400);
        expect(((await res.json()) as { error: { code: string } }).error.code, path).toBe('BAD_REQUEST');
      }
    },
  );

  it('a cursor that is not a job id is 400; good ones page as before', async () => {
    expect((await get('/v1/jobs?cursor=zzz')).status).toBe(400);
    expect((await get('/v1/jobs?limit=12')).status).toBe(200);
    expect((await get('/v1/jobs?cursor=20261127T055429693Z-000000-9f2c1a')).status).toBe(200);
  });
});
