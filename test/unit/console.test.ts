import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { toErrorResponse } from '../../src/api/errors.js';
import type { ApiCall } from '../../src/api/operator-reads.js';
import { operatorSurfaces } from '../../src/api/operator-surfaces.js';
import { webRequestBodies } from '../../src/api/request-body.js';
import { ThroughputMeter } from '../../src/core/throughput.js';

// The console's server side without a relay behind it: the operator API it reads is a stub answering canned
// JSON, so each test states exactly what the API said and checks what the operator is shown.

const ADMIN = 'console-admin-token-0123456789';
const NODE = 'console-node-token-0123456789';
const NOW = new Date('2026-12-01T10:00:00Z');
const tokens = { adminToken: ADMIN, nodeTokens: { 'node-a': NODE } };
const admin = { authorization: `Bearer ${ADMIN}` };

const HOSTILE = '/user_homes/<script>alert("x")</script> & ünï 🚀 \'q\'.txt';

function peer(name: string, fields: Record<string, unknown> = {}) {
  return {
    name,
    url: `https://${name}.example.com/`,
    status: 'ONLINE',
    lastPingAt: '2026-12-01T09:59:30.000Z',
    pending: 0,
    pendingBytes: 0,
    oldestPendingAt: null,
    conflicts: 0,
    failed: 0,
    blocked: 0,
    awaitingBody: 0,
    ...fields,
  };
}

function change(id: string, path: string, peers: Record<string, unknown>[], fields: Record<string, unknown> = {}) {
  return { id, action: 'upload', path, createdAt: '2026-12-01T09:00:00.000Z', status: 'CONFLICT', peers, ...fields };
}

/** A stand-in for the relay's API: answers by path, records what was asked and with which token. */
function stubApi(routes: Record<string, unknown>) {
  const calls: { path: string; authorization: string | null }[] = [];
  const api: ApiCall = (path, init) => {
    calls.push({ path, authorization: new Headers(init.headers).get('authorization') });
    const route = Object.keys(routes).find((r) => path === r || path.startsWith(`${r}${r.includes('?') ? '&' : '?'}`));
    if (!route) return Response.json({ error: { code: 'NOT_FOUND', message: 'no route' } }, { status: 404 });
    const answer = routes[route];
    return answer instanceof Response ? answer : Response.json(answer);
  };
  return { api, calls };
}

/** Mounted on an app that turns errors into responses the way the relay's app does. */
function surfaces(api: ApiCall, extra: Partial<Parameters<typeof operatorSurfaces>[0]> = {}) {
  const app = new Hono();
  app.route('/', operatorSurfaces({ tokens, api, now: () => NOW, ...extra }));
  app.onError((error, c) => toErrorResponse(error, c, webRequestBodies, () => {}));
  return app;
}

async function panel(api: ApiCall): Promise<string> {
  const res = await surfaces(api).request('/console/panel', { headers: admin });
  expect(res.status).toBe(200);
  return res.text();
}

describe('web console (server side)', () => {
  it('serves the page to anyone, with a strict CSP and nothing secret in it', async () => {
    const res = await surfaces(stubApi({}).api).request('/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await res.text();
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('<script src="/console/app.js"');
    // The token field has no name: no form submission can carry it, not even without the script.
    expect(html).toMatch(/<input id="token" type="password"(?![^>]*name=)/);

    const script = await surfaces(stubApi({}).api).request('/console/app.js');
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    const source = await script.text();
    expect(source).toContain('sessionStorage');
    expect(source).not.toMatch(/document\.cookie|localStorage/);
  });

  it('asks for the admin token for the panel, /metrics and the throughput figures', async () => {
    const app = surfaces(stubApi({ '/v1/peers': [] }).api, {
      throughput: () => new ThroughputMeter([]).series(),
      metrics: async () => ({ contentType: 'text/plain', body: '' }),
    });
    for (const path of ['/console/panel', '/metrics', '/v1/stats/throughput']) {
      expect((await app.request(path)).status, path).toBe(401);
      expect((await app.request(path, { headers: { authorization: `Bearer ${NODE}` } })).status, path).toBe(403);
      expect((await app.request(path, { headers: admin })).status, path).toBe(200);
    }
  });

  it('reads the API with the operator’s own token, and only the stuck statuses some peer counts', async () => {
    const { api, calls } = stubApi({ '/v1/peers': [peer('a')] });
    await panel(api);
    expect(calls.map((c) => c.path)).toEqual(['/v1/peers', '/v1/jobs']);
    expect(calls.every((c) => c.authorization === admin.authorization)).toBe(true);
  });

  it('shows peers with their figures and the peer’s answer, escaped', async () => {
    const { api } = stubApi({
      '/v1/peers': [
        peer('a', { pending: 3, pendingBytes: 1536, oldestPendingAt: '2026-12-01T09:57:00.000Z' }),
        peer('b', { status: 'OFFLINE', lastError: 'connect ECONNREFUSED <127.0.0.1>', held: 2 }),
      ],
      '/v1/changes': { items: [], next: null },
    });
    const html = await panel(api);
    const a = html.slice(html.indexOf('data-peer="a"'), html.indexOf('data-peer="b"'));
    expect(a).toContain('<td class="num">3</td>');
    expect(a).toContain('1.5 KiB');
    expect(a).toContain('3 min ago');
    expect(a).toContain('30 s ago'); // last ping
    const b = html.slice(html.indexOf('data-peer="b"'));
    expect(b).toContain('OFFLINE');
    expect(b).toContain('connect ECONNREFUSED &lt;127.0.0.1&gt;');
    expect(b).toContain('<td class="num alert">2</td>'); // held
  });

  it('lists stuck changes with the right buttons; paths and answers are text, never markup', async () => {
    const { api, calls } = stubApi({
      '/v1/peers': [peer('a', { conflicts: 1, blocked: 1, held: 1, failed: 1 }), peer('b/x')],
      '/v1/changes?status=CONFLICT': {
        items: [
          change('c1', HOSTILE, [{ peer: 'a', status: 'CONFLICT', attempts: 2, lastError: '<b>409</b> "Conflict"' }]),
        ],
        next: null,
      },
      '/v1/changes?status=FAILED': {
        items: [change('f1', '/user_homes/f', [{ peer: 'b/x', status: 'FAILED', attempts: 1 }])],
        next: null,
      },
      '/v1/changes?status=HELD': {
        items: [change('h1', '/user_homes/old', [{ peer: 'a', status: 'HELD', attempts: 0 }], { action: 'delete' })],
        next: null,
      },
      '/v1/changes?status=BLOCKED': {
        items: [change('b1', `${HOSTILE}/inner`, [{ peer: 'a', status: 'BLOCKED', attempts: 0, blockedBy: 'c1' }])],
        next: null,
      },
    });
    const html = await panel(api);
    expect(calls.map((c) => c.path).filter((p) => p.startsWith('/v1/changes'))).toHaveLength(4);

    // Escaped: no element the path or the answer could have opened.
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<b>409');
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; ünï 🚀 &#39;q&#39;.txt');
    expect(html).toContain('&lt;b&gt;409&lt;/b&gt; &quot;Conflict&quot;');

    // Order: FAILED, CONFLICT, HELD, BLOCKED.
    const order = [...html.matchAll(/data-change="([^"]+)"/g)].map((m) => m[1]);
    expect(order).toEqual(['f1', 'c1', 'h1', 'b1']);

    const row = (id: string) => html.slice(html.indexOf(`data-change="${id}"`)).split('</tr>')[0]!;
    expect(row('c1')).toContain('data-method="POST" data-url="/v1/changes/c1/retry?peer=a"');
    expect(row('c1')).toContain('data-method="DELETE" data-url="/v1/changes/c1?peer=a"');
    expect(row('c1')).toMatch(/>Retry<.*>Skip</s);
    // Peer names are encoded into the URL the button calls.
    expect(row('f1')).toContain('data-url="/v1/changes/f1/retry?peer=b%2Fx"');
    // HELD: release (retry) or discard (skip).
    expect(row('h1')).toMatch(/data-url="\/v1\/changes\/h1\/retry\?peer=a"[^>]*>Release</);
    expect(row('h1')).toMatch(/data-method="DELETE"[^>]*>Discard</);
    // BLOCKED: no button, and the change it waits behind.
    expect(row('b1')).not.toContain('<button');
    expect(row('b1')).toContain('behind <code class="blocker">c1</code>');
  });

  it('hides the jobs panel when the relay has no jobs API', async () => {
    const html = await panel(stubApi({ '/v1/peers': [peer('a')] }).api);
    expect(html).not.toContain('id="jobs"');
  });

  it('shows running jobs with a progress bar, and recent ones, in either list shape', async () => {
    const job = (id: string, status: string, bytes: Record<string, number>, counts: Record<string, number> = {}) => ({
      id,
      kind: 'resync',
      peer: 'a',
      from: 'primary',
      path: '/user_homes/',
      status,
      counts,
      bytes,
      startedAt: '2026-12-01T09:59:00.000Z',
    });
    for (const shape of ['array', 'page'] as const) {
      const jobs = [
        job('j1', 'RUNNING', { total: 1000, copied: 250 }, { scanned: 40, missing: 3 }),
        job('j2', 'RUNNING', {}),
        job('j3', 'DONE', { total: 10, copied: 10 }),
      ];
      const html = await panel(
        stubApi({ '/v1/peers': [peer('a')], '/v1/jobs': shape === 'array' ? jobs : { items: jobs, next: null } }).api,
      );
      const row = (id: string) => html.slice(html.indexOf(`data-job="${id}"`)).split('</tr>')[0]!;
      expect(row('j1')).toMatch(/<progress max="1000" value="250"/);
      expect(row('j1')).toContain('scanned 40 · missing 3');
      expect(row('j1')).toContain('data-method="DELETE" data-url="/v1/jobs/j1"');
      expect(row('j2')).toContain('<progress>'); // size unknown yet: a bar that only says it runs
      expect(row('j3')).not.toContain('<progress');
      expect(row('j3')).not.toContain('<button');
    }
  });

  it('keeps the console when the jobs cannot be read, and says why in the jobs panel', async () => {
    const html = await panel(stubApi({ '/v1/peers': [peer('a')], '/v1/jobs': { jobs: 'not a list' } }).api);
    expect(html).toContain('data-peer="a"');
    expect(html).toMatch(/id="jobs"[\s\S]*The jobs could not be read: GET \/v1\/jobs: /);
  });

  it('draws the throughput chart, one line per peer and metric', async () => {
    const meter = new ThroughputMeter(['a', 'b'], { intervalSeconds: 1, buckets: 4, now: () => 10_000 });
    const app = surfaces(stubApi({ '/v1/peers': [peer('a'), peer('b')] }).api, { throughput: () => meter.series() });
    const html = await (await app.request('/console/panel', { headers: admin })).text();
    expect(html.match(/<polyline/g)).toHaveLength(4);
    const json = await (await app.request('/v1/stats/throughput', { headers: admin })).json();
    expect(json).toMatchObject({ intervalSeconds: 1, peers: [{ peer: 'a', changes: [0, 0, 0, 0] }, { peer: 'b' }] });
  });

  it('answers READ_FAILED when the API it reads fails', async () => {
    const broken = new Response(JSON.stringify({ error: { code: 'INTERNAL', message: 'x' } }), { status: 500 });
    const res = await surfaces(stubApi({ '/v1/peers': broken }).api).request('/console/panel', { headers: admin });
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({
      error: { code: 'READ_FAILED', message: 'GET /v1/peers answered 500 INTERNAL' },
    });
  });

  it('has no /metrics without a renderer (a runtime without prom-client)', async () => {
    expect((await surfaces(stubApi({}).api).request('/metrics', { headers: admin })).status).toBe(404);
  });
});
