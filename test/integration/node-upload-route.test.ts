import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startHttpServer } from '../../src/runtime/http-server.js';
import { waitFor } from '../support/node-client.js';
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
 * `POST /v1/uploads` is answered by the Node server's own route (runtime/node-upload-route.ts) before the Hono app
 * sees it. Every request below goes to two servers in front of the same relay: the relay's own (with the route) and
 * one serving only the app. Both must answer alike — status, JSON body (change ids aside), the headers a client acts
 * on — and journal alike.
 */

const MAX_UPLOAD_BYTES = 4096;

type Spec = RawSpec;
type Answer = RawAnswer;

let relay: TestRelay;
let appOnly: RunningServer;

function send(base: string, spec: Spec): Promise<Answer> {
  return sendRaw(base, spec, { agent: false });
}

async function both(spec: Spec) {
  const viaRoute = await send(relay.url, spec);
  const viaApp = await send(appOnly.url, spec);
  expect(comparable(viaRoute), JSON.stringify(spec)).toEqual(comparable(viaApp));
  return viaRoute;
}

const bearer = (token: string): [string, string] => ['Authorization', `Bearer ${token}`];
const sha = (body: string) => createHash('sha256').update(body).digest('hex');
let serial = 0;
/** A fresh path each call, so that no two requests touch the same file. */
const fresh = (name = 'f') => `/user_homes/parity/${name}-${serial++}.txt`;
function uploadTarget(fields: Record<string, string>): string {
  return `/v1/uploads?${new URLSearchParams(fields)}`;
}

beforeAll(async () => {
  relay = await startTestRelay(
    {
      peers: [{ name: 'server2', url: 'http://127.0.0.1:9/' }],
      limits: { maxUploadBytes: MAX_UPLOAD_BYTES },
      replicationUser: 'replicator',
    },
    { replay: false },
  );
  appOnly = await startHttpServer({ fetch: relay.relay.app.fetch, host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await appOnly?.close();
  await relay?.close();
});

describe('POST /v1/uploads: the Node route answers as the app does', () => {
  it('journals an upload, with every optional field, and answers 201 PENDING', async () => {
    const body = 'hello parity';
    for (const token of [NODE_A_TOKEN, ADMIN_TOKEN]) {
      const extras: Record<string, string>[] = [
        {},
        { sha256: sha(body), modified: '2026-12-06T20:37:07.123Z', user: 'john' },
      ];
      for (const extra of extras) {
        const paths = [fresh(), fresh()];
        const [viaRoute, viaApp] = [
          await send(relay.url, {
            target: uploadTarget({ path: paths[0]!, size: String(body.length), ...extra }),
            headers: [bearer(token)],
            body,
          }),
          await send(appOnly.url, {
            target: uploadTarget({ path: paths[1]!, size: String(body.length), ...extra }),
            headers: [bearer(token)],
            body,
          }),
        ];
        expect(comparable(viaRoute)).toEqual(comparable(viaApp));
        expect(viaRoute.status).toBe(201);
        for (const [answer, path] of [
          [viaRoute, paths[0]!],
          [viaApp, paths[1]!],
        ] as const) {
          const { id } = JSON.parse(answer.text) as { id: string };
          const change = await relay.relay.view.getChange(id);
          expect(change).toMatchObject({ id, action: 'upload', path, size: body.length });
          expect(change?.node).toBe(token === ADMIN_TOKEN ? undefined : 'node-a');
        }
      }
    }
  });

  it('answers what is not journaled alike (replication user, a path not replicated) and closes', async () => {
    const body = 'x';
    const ignored = await both({
      target: uploadTarget({ path: fresh(), size: '1', user: 'replicator' }),
      headers: [bearer(NODE_A_TOKEN)],
      body,
    });
    expect(ignored.status).toBe(200);
    expect(ignored.text).toContain('REPLICATION_USER');
    expect(ignored.headers.connection).toBe('close');
    const elsewhere = await both({
      target: uploadTarget({ path: '/elsewhere/a.txt', size: '1' }),
      headers: [bearer(NODE_A_TOKEN)],
      body,
    });
    expect(elsewhere.text).toContain('NOT_REPLICATED');
  });

  it('refuses bodies that do not match the change alike, and journals nothing for them', async () => {
    const before = (await relay.relay.view.listChanges({ limit: 1000 })).items.length;
    const cases: Spec[] = [
      { target: uploadTarget({ path: fresh(), size: '5' }), body: 'abc' },
      { target: uploadTarget({ path: fresh(), size: '2' }), body: 'abcdef' },
      { target: uploadTarget({ path: fresh(), size: '3', sha256: sha('xyz') }), body: 'abc' },
      { target: uploadTarget({ path: '/user_homes/../etc/passwd', size: '3' }), body: 'abc' },
      { target: uploadTarget({ path: 'relative.txt', size: '3' }), body: 'abc' },
    ];
    for (const spec of cases) {
      const answer = await both({ ...spec, headers: [bearer(NODE_A_TOKEN)] });
      expect(answer.status, spec.target).toBeGreaterThanOrEqual(400);
      expect(JSON.parse(answer.text)).toMatchObject({ error: { code: expect.any(String) } });
    }
    expect((await relay.relay.view.listChanges({ limit: 1000 })).items.length).toBe(before);
  });

  it('leaves the refusals before the body to the app: tokens, queries, limits, URLs and hosts', async () => {
    const path = '/user_homes/parity/never.txt';
    const ok = uploadTarget({ path, size: '3' });
    const cases: Spec[] = [
      { target: ok },
      { target: ok, headers: [bearer('wrong-token-0123456789')] },
      { target: ok, headers: [['Authorization', `bearer ${NODE_A_TOKEN}`]] }, // scheme is case-insensitive: accepted
      { target: ok, headers: [['Authorization', `Basic ${NODE_A_TOKEN}`]] },
      { target: ok, headers: [bearer(NODE_A_TOKEN), bearer(NODE_A_TOKEN)] },
      { target: ok, headers: [bearer(NODE_A_TOKEN), bearer('wrong-token-0123456789')] },
      { target: '/v1/uploads', headers: [bearer(NODE_A_TOKEN)] },
      { target: '/v1/uploads?', headers: [bearer(NODE_A_TOKEN)] },
      { target: `/v1/uploads?path=${path}`, headers: [bearer(NODE_A_TOKEN)] },
      { target: `${ok}&size=3`, headers: [bearer(NODE_A_TOKEN)] },
      { target: `${ok}&color=red`, headers: [bearer(NODE_A_TOKEN)] },
      { target: uploadTarget({ path, size: '03' }), headers: [bearer(NODE_A_TOKEN)] },
      { target: uploadTarget({ path, size: '-1' }), headers: [bearer(NODE_A_TOKEN)] },
      { target: uploadTarget({ path, size: '3', sha256: 'abc' }), headers: [bearer(NODE_A_TOKEN)] },
      { target: uploadTarget({ path, size: '3', modified: 'yesterday' }), headers: [bearer(NODE_A_TOKEN)] },
      { target: uploadTarget({ path, size: '3', user: 'a\u0001b' }), headers: [bearer(NODE_A_TOKEN)] },
      { target: uploadTarget({ path: '', size: '3' }), headers: [bearer(NODE_A_TOKEN)] },
      { target: uploadTarget({ path, size: String(MAX_UPLOAD_BYTES + 1) }), headers: [bearer(NODE_A_TOKEN)] },
      { target: `/v1/uploads/?path=${path}&size=3`, headers: [bearer(NODE_A_TOKEN)] },
      { target: `/v1/uploadsX?path=${path}&size=3`, headers: [bearer(NODE_A_TOKEN)] },
      { target: `/V1/uploads?path=${path}&size=3`, headers: [bearer(NODE_A_TOKEN)] },
      { target: `/v1/uploads?path=${path}&size=3`, method: 'PUT', headers: [bearer(NODE_A_TOKEN)] },
      { target: `/v1/uploads?path=${path}&size=3`, method: 'GET', headers: [bearer(NODE_A_TOKEN)] },
      { target: `/v1/uploads?path=${path}%zz&size=3`, headers: [bearer(NODE_A_TOKEN)] },
      { target: `/v1/uploads?path=${path}#frag&size=3`, headers: [bearer(NODE_A_TOKEN)] },
      { target: ok, headers: [['Host', 'EXAMPLE.org:8080'], bearer(NODE_A_TOKEN)] },
      { target: ok, headers: [['Host', 'relay.example:99999'], bearer(NODE_A_TOKEN)] },
      { target: ok, headers: [['Host', 'a b'], bearer(NODE_A_TOKEN)] },
      // Hosts the URL parser refuses, with targets @hono/node-server parses (a percent escape, a dot segment).
      { target: ok, headers: [['Host', '999.1.1.1'], bearer(NODE_A_TOKEN)] },
      { target: `${ok}&user=/.`, headers: [['Host', '1.2.3.256:8080'], bearer(NODE_A_TOKEN)] },
      { target: ok, headers: [['Host', 'xn--a'], bearer(NODE_A_TOKEN)] },
      { target: `/v1/uploads?path=${path}&size=3&user=/..`, headers: [['Host', '999.1.1.1'], bearer(NODE_A_TOKEN)] },
      // Names the schema does not know, however they are spelled.
      { target: `/v1/uploads?__proto__=x&path=${path}&size=3`, headers: [bearer(NODE_A_TOKEN)] },
      { target: `/v1/uploads?constructor=x&path=${path}&size=3`, headers: [bearer(NODE_A_TOKEN)] },
      { target: `/v1/uploads?path=${path}&size=3&toString=x`, headers: [bearer(NODE_A_TOKEN)] },
    ];
    const seen = new Set<number>();
    for (const spec of cases) {
      const answer = await both({ body: 'abc', ...spec });
      seen.add(answer.status);
    }
    // The cases reach the answers they are there for (not all refused the same way).
    expect([...seen].sort()).toEqual(expect.arrayContaining([201, 400, 401, 404, 413]));
  });

  it('percent-encoded, plus-encoded and non-ASCII paths land on the same file', async () => {
    for (const name of ['a b+c', 'ünïcödé', '100%', 'semi;colon,comma']) {
      const path = `/user_homes/parity/${name}-${serial++}.txt`;
      const encoded = encodeURIComponent(path);
      const plus = new URLSearchParams({ path }).toString().slice('path='.length);
      for (const [base, form] of [
        [relay.url, encoded],
        [appOnly.url, plus],
      ] as const) {
        const answer = await send(base, {
          target: `/v1/uploads?path=${form}&size=1`,
          headers: [bearer(NODE_A_TOKEN)],
          body: 'z',
        });
        expect(answer.status, `${base} ${form}`).toBe(201);
        const change = await relay.relay.view.getChange((JSON.parse(answer.text) as { id: string }).id);
        expect(change?.path).toBe(path);
      }
    }
  });
});

describe('POST /v1/uploads: rate limits', () => {
  const pair = useRateLimitedPair();

  it('takes one request from the bucket, and refuses past it alike (429, Retry-After)', async () => {
    const { relay: limited, appOnly: limitedApp } = pair();
    const answers: Record<string, Answer[]> = { route: [], app: [] };
    for (const [key, base, token] of [
      ['route', limited.url, NODE_A_TOKEN],
      ['app', limitedApp.url, NODE_B_TOKEN],
    ] as const) {
      for (let i = 0; i < 4; i++) {
        answers[key]!.push(
          await send(base, {
            target: uploadTarget({ path: `/user_homes/limited/${key}-${i}.txt`, size: '1' }),
            headers: [bearer(token)],
            body: 'r',
          }),
        );
      }
    }
    expectLimitedAlike(answers.route!, answers.app!, [201, 201, 429, 429]);
  });
});

describe('POST /v1/uploads: clients that stall or go away', () => {
  let slow: TestRelay;
  const lines: string[] = [];

  beforeAll(async () => {
    const { JsonLogger } = await import('../../src/adapters/log/json-logger.js');
    slow = await startTestRelay(
      { peers: [{ name: 'server2', url: 'http://127.0.0.1:9/' }], limits: { bodyIdleTimeoutSeconds: 0.2 } },
      { replay: false, logger: new JsonLogger((line) => lines.push(line), 'info') },
    );
  });

  afterAll(async () => {
    await slow?.close();
  });

  /** Sends the head and the first `sent` bytes of a `size`-byte upload on a raw connection. */
  async function partialUpload(path: string, size: number, sent: number) {
    const { port } = new URL(slow.url);
    const socket = connect(Number(port), '127.0.0.1');
    socket.on('error', () => {});
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(
      `POST ${uploadTarget({ path, size: String(size) })} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
        `Authorization: Bearer ${NODE_A_TOKEN}\r\nContent-Length: ${size}\r\n\r\n${'p'.repeat(sent)}`,
    );
    return { socket, closed };
  }

  const logged = () => lines.map((line) => JSON.parse(line) as { level: string; message: string });

  it('cuts off a body that stops arriving, as warnings; nothing is journaled', async () => {
    const { closed } = await partialUpload('/user_homes/stall/idle.bin', 4096, 100);
    await closed; // the relay closes it: waits for that event, not for a time
    await waitFor(async () => lines.some((l) => l.includes('client went away mid-request')), 10_000);
    expect(logged()).toContainEqual(
      expect.objectContaining({ level: 'warn', message: 'request body idle: closing the connection' }),
    );
    expect(logged().filter((l) => l.level === 'error')).toEqual([]);
    expect((await slow.relay.view.listChanges({ limit: 10 })).items).toEqual([]);
  });

  it('takes a client that drops mid-body, at any moment, as a warning; nothing is journaled, the relay goes on', async () => {
    lines.length = 0;
    for (let i = 0; i < 20; i++) {
      const { socket, closed } = await partialUpload(`/user_homes/stall/drop-${i}.bin`, 200_000, 1000 * i);
      socket.destroy();
      await closed;
    }
    await waitFor(async () => lines.filter((l) => l.includes('client went away mid-request')).length === 20, 10_000);
    expect(logged().filter((l) => l.level === 'error')).toEqual([]);
    expect((await slow.relay.view.listChanges({ limit: 10 })).items).toEqual([]);
    const ok = await send(slow.url, {
      target: uploadTarget({ path: '/user_homes/stall/after.bin', size: '2' }),
      headers: [bearer(NODE_A_TOKEN)],
      body: 'ok',
    });
    expect(ok.status).toBe(201);
  });
});
