import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiDeps, DEFAULT_LIMITS, relayUploadTarget } from '../../src/api/deps.js';
import { UploadKeys } from '../../src/api/upload-keys.js';
import { silentLogger } from '../../src/core/logger.js';
import { type RunningServer, startHttpServer } from '../../src/runtime/http-server.js';
import { nodeChangeRoutes } from '../../src/runtime/node-change-routes.js';
import {
  comparable,
  expectLimitedAlike,
  type RawAnswer,
  type RawSpec,
  sendRaw,
  useRateLimitedPair,
} from '../support/raw-request.js';
import { ADMIN_TOKEN, NODE_A_TOKEN, NODE_B_TOKEN, startTestRelay, type TestRelay } from '../support/relay.js';

/**
 * `PUT /v1/changes/{id}/body` and `POST /v1/changes/{id}/commit` are answered by the Node server's own routes
 * (runtime/node-change-routes.ts) before the Hono app sees them. Every request below goes to two servers in front
 * of the same relay: one with the routes (and the app behind them, which records what it was left), and one serving
 * only the app. Each side works on a change of its own, made alike; both must answer alike — status, JSON body
 * (change ids aside), the headers a client acts on — and leave their change alike.
 */

const MAX_UPLOAD_BYTES = 1 << 20;

type Spec = RawSpec & { method: string };
type Answer = RawAnswer;

let relay: TestRelay;
let withRoutes: RunningServer;
let appOnly: RunningServer;
/** Requests the routes left to the app (their methods). */
const leftToApp: string[] = [];

/**
 * One Host for every server: the routes take only ports up to 59999 in it (see PLAIN_HOST), and a test server's
 * port is any; nothing in the answers depends on it (links use the address the relay listens on).
 */
function send(base: string, spec: Spec): Promise<Answer> {
  return sendRaw(base, spec, { host: `${new URL(base).hostname}:8787` });
}

const bearer = (token: string): [string, string] => ['Authorization', `Bearer ${token}`];
const sha = (body: string) => createHash('sha256').update(body).digest('hex');
let serial = 0;

interface Upload {
  id: string;
  /** The upload URL's path and query. */
  target: string;
}

/** A three-request upload journaled as far as AWAITING_BODY, by `token`. */
async function newUpload(token: string, size: number, sha256?: string): Promise<Upload> {
  const path = `/user_homes/parity3/f-${serial++}.bin`;
  const answer = await send(appOnly.url, {
    method: 'POST',
    target: '/v1/changes',
    headers: [bearer(token), ['Content-Type', 'application/json']],
    body: JSON.stringify({ action: 'upload', path, size, ...(sha256 ? { sha256 } : {}) }),
  });
  expect(answer.status, answer.text).toBe(201);
  const { id, upload } = JSON.parse(answer.text) as { id: string; upload: { url: string } };
  const url = new URL(upload.url);
  return { id, target: `${url.pathname}${url.search}` };
}

/** What the journal shows of a change: its status and each peer's, or that it is not there. */
async function changeState(id: string) {
  try {
    const change = await relay.relay.view.getChange(id);
    return { status: change.status, peers: change.peers.map((p) => p.status), sha256: change.sha256 };
  } catch {
    return 'not in the journal';
  }
}

/**
 * Makes one upload per side with `make`, sends each side the request `spec` builds for its own upload, compares
 * the answers and returns the routes' side. `taken`: whether the routes must answer it themselves.
 */
async function both(make: () => Promise<Upload>, spec: (upload: Upload) => Spec, taken: boolean) {
  const mine = await make();
  const theirs = await make();
  const before = leftToApp.length;
  const viaRoutes = await send(withRoutes.url, spec(mine));
  const viaApp = await send(appOnly.url, spec(theirs));
  const described = JSON.stringify(spec(mine));
  expect(comparable(viaRoutes), described).toEqual(comparable(viaApp));
  expect(leftToApp.length - before, `${described} left to the app`).toBe(taken ? 0 : 1);
  expect(await changeState(mine.id), described).toEqual(await changeState(theirs.id));
  return { answer: viaRoutes, mine, theirs };
}

const putBody =
  (body: string, token = NODE_A_TOKEN, headers: [string, string][] = []) =>
  (upload: Upload): Spec => ({
    method: 'PUT',
    target: upload.target,
    headers: [bearer(token), ...headers],
    body,
  });
const commit =
  (token = NODE_A_TOKEN) =>
  (upload: Upload): Spec => ({
    method: 'POST',
    target: `/v1/changes/${upload.id}/commit`,
    headers: [bearer(token)],
  });

beforeAll(async () => {
  relay = await startTestRelay(
    {
      peers: [{ name: 'server2', url: 'http://127.0.0.1:9/' }],
      limits: { maxUploadBytes: MAX_UPLOAD_BYTES },
      replicationUser: 'replicator',
    },
    { replay: false },
  );
  const deps = {
    intake: relay.relay.intake,
    tokens: relay.config.auth,
    // Derived from the admin token exactly as the app's own are.
    uploadKeys: new UploadKeys(relay.relay.adminToken),
    // Links as the relay's own server makes them.
    listenUrl: () => relay.url,
    uploadTarget: relayUploadTarget,
    limits: { ...DEFAULT_LIMITS, maxUploadBytes: MAX_UPLOAD_BYTES },
    logger: silentLogger,
  } as unknown as ApiDeps;
  withRoutes = await startHttpServer({
    // With the server's own arguments (the Node request the app reads bodies from); and not request.url: building
    // it parses the URL, which the app itself does not do for every request.
    fetch: ((request: Request, ...rest: []) => {
      leftToApp.push(request.method);
      return relay.relay.app.fetch(request, ...rest);
    }) as (request: Request) => Promise<Response>,
    routes: [nodeChangeRoutes(deps)],
    host: '127.0.0.1',
    port: 0,
  });
  appOnly = await startHttpServer({ fetch: relay.relay.app.fetch, host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await withRoutes?.close();
  await appOnly?.close();
  await relay?.close();
});

describe('PUT body and commit: the Node routes answer as the app does', () => {
  it('stores a body and commits it, for a node and for the admin token', async () => {
    const body = 'hello three requests';
    for (const token of [NODE_A_TOKEN, ADMIN_TOKEN]) {
      const make = () => newUpload(token, body.length, sha(body));
      const put = await both(make, putBody(body, token), true);
      expect(put.answer.status).toBe(200);
      expect(JSON.parse(put.answer.text)).toEqual({ id: put.mine.id, size: body.length, sha256: sha(body) });
      // Commit the uploads both bodies went to, one through each server.
      const [routed, viaApp] = [
        await send(withRoutes.url, commit(token)(put.mine)),
        await send(appOnly.url, commit(token)(put.theirs)),
      ];
      expect(comparable(routed)).toEqual(comparable(viaApp));
      expect(JSON.parse(routed.text)).toEqual({ id: put.mine.id, status: 'PENDING' });
      const change = await relay.relay.view.getChange(put.mine.id);
      expect(change).toMatchObject({ id: put.mine.id, size: body.length, sha256: sha(body) });
      expect(change.status).toBe('PENDING');
    }
  });

  it('refuses bodies and commits that do not fit the change alike', async () => {
    const body = 'twelve bytes';
    const make = () => newUpload(NODE_A_TOKEN, body.length, sha(body));
    // A body that is short, or of another checksum, is refused at the commit (below).
    const cases: [string, (upload: Upload) => Spec][] = [
      ['a body too long', putBody(`${body}!`)],
      ['another node', putBody(body, NODE_B_TOKEN)],
      [
        'a wrong key',
        (u) => ({ ...putBody(body)(u), target: u.target.replace(/key=.{22}$/, `key=${'A'.repeat(22)}`) }),
      ],
      ['a commit before the body', commit()],
      ['a commit by another node', commit(NODE_B_TOKEN)],
    ];
    const seen = new Set<number>();
    for (const [what, spec] of cases) {
      const { answer } = await both(make, spec, true);
      expect(answer.status, what).toBeGreaterThanOrEqual(400);
      expect(JSON.parse(answer.text), what).toMatchObject({ error: { code: expect.any(String) } });
      seen.add(answer.status);
    }
    expect([...seen].sort()).toEqual(expect.arrayContaining([404, 409]));
    for (const [what, wrong] of [
      ['a body too short', 'short'],
      ['a body of another checksum', 'TWELVE BYTES'],
    ] as const) {
      const put = await both(make, putBody(wrong), true);
      expect(put.answer.status, what).toBe(200);
      const queue = [put.mine, put.theirs];
      const { answer } = await both(async () => queue.shift()!, commit(), true);
      expect(answer.status, what).toBe(422);
      expect(JSON.parse(answer.text), what).toMatchObject({ error: { code: expect.any(String) } });
    }
  });

  it('answers a change id nobody made, and a second commit, alike', async () => {
    const body = 'x';
    const make = () => newUpload(NODE_A_TOKEN, 1);
    const twice = await both(make, putBody(body), true);
    for (const upload of [twice.mine, twice.theirs]) {
      const server = upload === twice.mine ? withRoutes : appOnly;
      expect((await send(server.url, commit()(upload))).status).toBe(200);
    }
    const committed = [twice.mine, twice.theirs];
    const again = await both(async () => committed.shift()!, commit(), true);
    expect(again.answer.status).toBe(409);
    const unknown = await both(
      async () => ({ id: '20261207T010203004Z-000001-abcdef', target: '' }),
      (u) => ({
        method: 'PUT',
        target: `/v1/changes/${u.id}/body?key=${'B'.repeat(22)}`,
        headers: [bearer(NODE_A_TOKEN)],
        body,
      }),
      true,
    );
    expect(unknown.answer.status).toBe(404);
  });

  it('leaves everything but the plainest requests to the app: tokens, ids, queries, bodies, hosts', async () => {
    const body = 'abc';
    const make = () => newUpload(NODE_A_TOKEN, body.length);
    const left: [string, (upload: Upload) => Spec][] = [
      ['no token', (u) => ({ ...putBody(body)(u), headers: [] })],
      ['an unknown token', putBody(body, 'wrong-token-0123456789')],
      ['a Basic token', (u) => ({ ...putBody(body)(u), headers: [['Authorization', `Basic ${NODE_A_TOKEN}`]] })],
      ['two tokens', putBody(body, NODE_A_TOKEN, [bearer(NODE_A_TOKEN)])],
      ['no key', (u) => ({ ...putBody(body)(u), target: u.target.replace(/\?.*$/, '') })],
      ['a short key', (u) => ({ ...putBody(body)(u), target: u.target.slice(0, -1) })],
      ['two keys', (u) => ({ ...putBody(body)(u), target: `${u.target}&key=${'C'.repeat(22)}` })],
      ['another query name', (u) => ({ ...putBody(body)(u), target: `${u.target}&color=red` })],
      [
        'an id not in its form',
        (u) => ({ ...putBody(body)(u), target: u.target.replace(u.id, u.id.replace('T', 't')) }),
      ],
      [
        // The same id, its last character escaped: the app decodes it, the route leaves it to the app.
        'an id with an escape',
        (u) => ({
          ...putBody(body)(u),
          target: u.target.replace(u.id, `${u.id.slice(0, -1)}%${u.id.charCodeAt(32).toString(16)}`),
        }),
      ],
      ['a trailing slash', (u) => ({ ...putBody(body)(u), target: u.target.replace('/body?', '/body/?') })],
      ['POST to the body', (u) => ({ ...putBody(body)(u), method: 'POST' })],
      ['a plain host the URL parser refuses', putBody(body, NODE_A_TOKEN, [['Host', '999.1.1.1']])],
      ['an upper case host', putBody(body, NODE_A_TOKEN, [['Host', 'EXAMPLE.org:8080']])],
      ['a commit with a query', (u) => ({ ...commit()(u), target: `/v1/changes/${u.id}/commit?x=1` })],
      ['a commit by PUT', (u) => ({ ...commit()(u), method: 'PUT' })],
      ['a commit without a token', (u) => ({ ...commit()(u), headers: [] })],
    ];
    const seen = new Set<number>();
    for (const [, spec] of left) seen.add((await both(make, spec, false)).answer.status);
    // The cases reach the answers they are there for (not all refused the same way).
    expect([...seen].sort()).toEqual(expect.arrayContaining([400, 401, 404]));
  });
});

describe('PUT body and commit: rate limits', () => {
  const pair = useRateLimitedPair();

  it('takes one request from the bucket, and refuses past it alike (429, Retry-After)', async () => {
    const { relay: limited, appOnly: limitedApp } = pair();
    const answers: Record<string, Answer[]> = { routes: [], app: [] };
    for (const [key, base, token] of [
      ['routes', limited.url, NODE_A_TOKEN],
      ['app', limitedApp.url, NODE_B_TOKEN],
    ] as const) {
      // The change is made with the admin token, which no limit applies to; the node's own requests count.
      const path = `/user_homes/limited3/${key}.bin`;
      const made = await send(base, {
        method: 'POST',
        target: '/v1/changes',
        headers: [bearer(ADMIN_TOKEN), ['Content-Type', 'application/json']],
        body: JSON.stringify({ action: 'upload', path, size: 1 }),
      });
      const { id, upload } = JSON.parse(made.text) as { id: string; upload: { url: string } };
      const url = new URL(upload.url);
      const target = `${url.pathname}${url.search}`;
      for (let i = 0; i < 3; i++) {
        answers[key]!.push(await send(base, { method: 'PUT', target, headers: [bearer(token)], body: 'r' }));
      }
      answers[key]!.push(
        await send(base, { method: 'POST', target: `/v1/changes/${id}/commit`, headers: [bearer(token)] }),
      );
    }
    // The admin's upload is not the node's: 404 for the first two, then the bucket is empty.
    expectLimitedAlike(answers.routes!, answers.app!, [404, 404, 429, 429]);
  });
});

describe('POST /v1/changes: the Node route answers as the app does', () => {
  const json = (value: unknown) => JSON.stringify(value);
  const post = (
    body: string,
    token = NODE_A_TOKEN,
    headers: [string, string][] = [['Content-Type', 'application/json']],
  ) => ({ method: 'POST', target: '/v1/changes', headers: [bearer(token), ...headers], body }) satisfies Spec;

  /** Sends `spec(path)` to each side with a path of its own; compares answers, journal state and who answered. */
  async function bothSubmit(spec: (path: string) => Spec, taken: boolean) {
    const paths = [`/user_homes/submit/r-${serial}.txt`, `/user_homes/submit/a-${serial++}.txt`];
    const before = leftToApp.length;
    const viaRoutes = await send(withRoutes.url, spec(paths[0]!));
    const viaApp = await send(appOnly.url, spec(paths[1]!));
    const described = JSON.stringify(spec(paths[0]!));
    expect(comparable(viaRoutes), described).toEqual(comparable(viaApp));
    expect(leftToApp.length - before, `${described} left to the app`).toBe(taken ? 0 : 1);
    const ids = [viaRoutes, viaApp].map((a) => /"id":"([^"]+)"/.exec(a.text)?.[1]);
    if (ids[0] !== undefined) {
      expect(await changeState(ids[0]), described).toEqual(await changeState(ids[1]!));
      const [mine, theirs] = await Promise.all(ids.map((id) => relay.relay.view.getChange(id!)));
      expect(mine!.path.startsWith(paths[0]!)).toBe(true);
      const same = (change: unknown, path: string) =>
        JSON.parse(JSON.stringify({ ...(change as object), id: 0, createdAt: 0 }).replaceAll(path, '<path>'));
      expect(same(mine, paths[0]!)).toEqual(same(theirs, paths[1]!));
    }
    return viaRoutes;
  }

  it('journals every action, with every optional field, for a node and for the admin token', async () => {
    const body = 'abc';
    const seen = new Set<number>();
    for (const token of [NODE_A_TOKEN, ADMIN_TOKEN]) {
      const changes: ((path: string) => unknown)[] = [
        (path) => ({ action: 'upload', path, size: body.length }),
        (path) => ({
          action: 'upload',
          path,
          size: 3,
          sha256: sha(body),
          modified: '2026-12-07T01:02:03.004Z',
          user: 'jo',
        }),
        (path) => ({ action: 'upload', path, size: 0 }),
        (path) => ({ action: 'makedir', path }),
        (path) => ({ action: 'delete', path, user: 'jo' }),
        (path) => ({ action: 'rename', path, target: `${path}.renamed` }),
        (path) => ({ action: 'mdtm', path, modified: '2026-12-07T01:02:03+02:00' }),
      ];
      for (const change of changes) {
        const answer = await bothSubmit((path) => post(json(change(path)), token), true);
        seen.add(answer.status);
        expect(answer.status).toBeLessThan(300);
      }
    }
    expect([...seen].sort()).toEqual([201, 202]);
    // And the upload URL the route made takes the body (through the route too).
    const made = await send(
      withRoutes.url,
      post(json({ action: 'upload', path: '/user_homes/submit/url.txt', size: 3 })),
    );
    const { id, upload } = JSON.parse(made.text) as { id: string; upload: { url: string } };
    expect(upload.url.startsWith(`${relay.url}/v1/changes/${id}/body?key=`)).toBe(true);
    const url = new URL(upload.url);
    expect((await send(withRoutes.url, putBody(body)({ id, target: `${url.pathname}${url.search}` }))).status).toBe(
      200,
    );
  });

  it('answers what is not journaled alike (replication user, a path not replicated)', async () => {
    const ignored = await bothSubmit((path) => post(json({ action: 'delete', path, user: 'replicator' })), true);
    expect(ignored.status).toBe(200);
    expect(ignored.text).toContain('REPLICATION_USER');
    const elsewhere = await bothSubmit(() => post(json({ action: 'makedir', path: '/elsewhere/dir' })), true);
    expect(elsewhere.text).toContain('NOT_REPLICATED');
  });

  it('refuses bodies the schema or the parser refuses alike, and journals nothing for them', async () => {
    const before = (await relay.relay.view.listChanges({ limit: 1000 })).items.length;
    const bodies: ((path: string) => string)[] = [
      () => '{"action":"upload",',
      () => '',
      () => 'null',
      () => '[]',
      () => '"upload"',
      (path) => json({ action: 'upload', path, size: MAX_UPLOAD_BYTES + 1 }),
      (path) => json({ action: 'upload', path, size: -1 }),
      (path) => json({ action: 'upload', path, size: 1.5 }),
      (path) => json({ action: 'copy', path }),
      (path) => json({ action: 'upload', path, size: 1, color: 'red' }),
      (path) => json({ action: 'upload', path, size: 1, sha256: 'abc' }),
      (path) => json({ action: 'mdtm', path, modified: 'yesterday' }),
      (path) => json({ action: 'delete', path, user: 'a\u0001b' }),
      (path) => json({ action: 'rename', path }),
      (path) => json({ action: 'upload', path }),
      () => json({ action: 'delete', path: '/user_homes/../etc/passwd' }),
      () => json({ action: 'delete', path: 'relative.txt' }),
      () => json({ action: 'delete', path: '' }),
      () => json({ action: 'delete' }),
      () => json({ path: '/user_homes/x' }),
    ];
    const seen = new Set<number>();
    for (const body of bodies) {
      const answer = await bothSubmit((path) => post(body(path)), true);
      expect(answer.status, body('/p')).toBeGreaterThanOrEqual(400);
      expect(JSON.parse(answer.text)).toMatchObject({ error: { code: expect.any(String) } });
      seen.add(answer.status);
    }
    expect([...seen].sort()).toEqual(expect.arrayContaining([400, 413]));
    expect((await relay.relay.view.listChanges({ limit: 1000 })).items.length).toBe(before);
  });

  it('reads the body as a web Request does: UTF-8, a leading BOM dropped, a charset parameter ignored', async () => {
    const change = (path: string) => json({ action: 'makedir', path: `${path}-ünï` });
    const cases: [string, (path: string) => Spec][] = [
      ['a BOM', (path) => post(`\ufeff${change(path)}`)],
      ['a charset', (path) => post(change(path), NODE_A_TOKEN, [['Content-Type', 'application/json; charset=latin1']])],
      ['upper case', (path) => post(change(path), NODE_A_TOKEN, [['Content-Type', 'Application/JSON']])],
      [
        'bytes that are not UTF-8',
        (path) => ({
          ...post(''),
          body: Buffer.concat([Buffer.from(change(path).slice(0, -2)), Buffer.from([0xff, 0x22, 0x7d])]),
        }),
      ],
    ];
    for (const [what, spec] of cases) {
      const answer = await bothSubmit(spec, true);
      expect(answer.status, what).toBeLessThan(500);
    }
  });

  it('leaves the rest to the app: tokens, media types, lengths, URLs, hosts', async () => {
    const ok = (path: string) => json({ action: 'makedir', path });
    const cases: [string, (path: string) => Spec][] = [
      ['no token', (path) => ({ ...post(ok(path)), headers: [['Content-Type', 'application/json']] })],
      ['an unknown token', (path) => post(ok(path), 'wrong-token-0123456789')],
      ['no media type', (path) => post(ok(path), NODE_A_TOKEN, [])],
      ['text/plain', (path) => post(ok(path), NODE_A_TOKEN, [['Content-Type', 'text/plain']])],
      [
        'a JSON suffix type',
        (path) => post(ok(path), NODE_A_TOKEN, [['Content-Type', 'application/merge-patch+json']]),
      ],
      // Media types the app refuses (415) before its JSON validator: its check reads the whole header.
      ...[
        'application/json;',
        'application/json ; charset=utf-8',
        'application/json; charset=utf-8;',
        'application/json; charset =utf-8',
        'application/json\u00a0',
      ].map((type): [string, (path: string) => Spec] => [
        type,
        (path) => post(ok(path), NODE_A_TOKEN, [['Content-Type', type]]),
      ]),
      [
        'two media types',
        (path) =>
          post(ok(path), NODE_A_TOKEN, [
            ['Content-Type', 'application/json'],
            ['Content-Type', 'application/json'],
          ]),
      ],
      [
        'a chunked body',
        (path) =>
          post(ok(path), NODE_A_TOKEN, [
            ['Content-Type', 'application/json'],
            ['Transfer-Encoding', 'chunked'],
          ]),
      ],
      [
        'a body over the limit',
        (path) => post(json({ action: 'makedir', path, user: 'u'.repeat(DEFAULT_LIMITS.maxJsonBytes) })),
      ],
      ['a query', (path) => ({ ...post(ok(path)), target: '/v1/changes?x=1' })],
      ['a trailing slash', (path) => ({ ...post(ok(path)), target: '/v1/changes/' })],
      ['PUT', (path) => ({ ...post(ok(path)), method: 'PUT' })],
      [
        'a host the URL parser refuses',
        (path) =>
          post(ok(path), NODE_A_TOKEN, [
            ['Content-Type', 'application/json'],
            ['Host', '999.1.1.1'],
          ]),
      ],
    ];
    const seen = new Set<number>();
    for (const [, spec] of cases) seen.add((await bothSubmit(spec, false)).status);
    expect([...seen].sort()).toEqual(expect.arrayContaining([202, 401, 403, 404, 413, 415]));
  });
});
