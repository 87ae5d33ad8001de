import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigFile } from '../../src/config/schema.js';
import { type ApachePeer, apacheAvailable, peerConfig, startApache } from '../support/apache.js';
import { waitFor } from '../support/node-client.js';
import {
  ADMIN_TOKEN,
  auth,
  jsonHeaders,
  NODE_A_TOKEN,
  NODE_B_TOKEN,
  startTestRelay,
  type TestRelay,
  type TestRelayOptions,
} from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';

/**
 * What one compromised, buggy or unlucky node can do to the others (issue "Hostile or careless nodes cannot hijack,
 * stall or flood the relay"), tried against the embedded relay with a real Apache peer. Each block names the item it
 * proves; the cloud-mode parity of the same rules is in cloud-hostile-nodes.test.ts.
 */

let apache: ApachePeer;
const relays: TestRelay[] = [];

async function relay(overrides: Partial<ConfigFile> = {}, options: TestRelayOptions = {}): Promise<TestRelay> {
  const t = await startTestRelay({ peers: [peerConfig(apache, 'server2')], ...overrides }, options);
  relays.push(t);
  return t;
}

interface Answer {
  status: number;
  code?: string;
  message?: string;
  headers: Headers;
  json: Record<string, unknown>;
}

async function call(t: TestRelay, path: string, init: RequestInit & { token?: string } = {}): Promise<Answer> {
  const { token = NODE_A_TOKEN, ...rest } = init;
  const url = path.startsWith('http') ? path : `${t.url}${path}`;
  const res = await fetch(url, { ...rest, headers: { ...auth(token), ...(rest.headers as Record<string, string>) } });
  const text = await res.text();
  const json = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
  const error = json.error as { code?: string; message?: string } | undefined;
  return { status: res.status, code: error?.code, message: error?.message, headers: res.headers, json };
}

const change = (t: TestRelay, fields: Record<string, unknown>, token = NODE_A_TOKEN) =>
  call(t, '/v1/changes', { method: 'POST', token, headers: jsonHeaders(token), body: JSON.stringify(fields) });

const sha = (body: string | Buffer) => createHash('sha256').update(body).digest('hex');

/** POST an upload; returns its id and upload URL (the body is not sent). */
async function openUpload(t: TestRelay, path: string, body: string, token = NODE_A_TOKEN) {
  const answer = await change(t, { action: 'upload', path, size: Buffer.byteLength(body), sha256: sha(body) }, token);
  expect(answer.status, JSON.stringify(answer.json)).toBe(201);
  return { id: answer.json.id as string, url: (answer.json.upload as { url: string }).url };
}

const putBody = (t: TestRelay, url: string, body: string, token = NODE_A_TOKEN) =>
  call(t, url, { method: 'PUT', token, headers: { 'content-type': 'application/octet-stream' }, body });

const commit = (t: TestRelay, id: string, token = NODE_A_TOKEN) =>
  call(t, `/v1/changes/${id}/commit`, { method: 'POST', token });

async function peerFile(path: string, timeoutMs = 20_000): Promise<string | undefined> {
  let found: string | undefined;
  await waitFor(
    async () => {
      found = (await apache.tree()).get(path.replace(/^\//, ''));
      return found !== undefined;
    },
    timeoutMs,
    () => `${path} never reached the peer`,
  );
  return found;
}

describeWithServer('Apache httpd (apt-get install apache2)', apacheAvailable, 'hostile nodes', () => {
  beforeAll(async () => {
    apache = await startApache();
  });
  afterAll(async () => {
    for (const t of relays.splice(0)) await t.close();
    await apache?.close();
  });

  describe('1. uploads belong to their node', () => {
    let t: TestRelay;
    beforeAll(async () => {
      t = await relay();
    });

    it("refuses another node's body and commit with the answer an unknown id gets; the owner's upload goes through", async () => {
      const { id, url } = await openUpload(t, '/user_homes/alice/report.txt', 'alice wrote this');
      const unknownId = `${id.slice(0, -6)}${id.endsWith('000000') ? '111111' : '000000'}`;

      const foreignBody = await putBody(t, url, 'mallory wrote this', NODE_B_TOKEN);
      const foreignCommit = await commit(t, id, NODE_B_TOKEN);
      const unknownCommit = await commit(t, unknownId, NODE_B_TOKEN);
      expect([foreignBody.status, foreignBody.code]).toEqual([404, 'NOT_FOUND']);
      expect([foreignCommit.status, foreignCommit.code]).toEqual([404, 'NOT_FOUND']);
      // Nothing tells an existing id from an unknown one.
      expect(foreignCommit.message!.replace(id, 'ID')).toBe(unknownCommit.message!.replace(unknownId, 'ID'));

      expect((await putBody(t, url, 'alice wrote this')).status).toBe(200);
      expect((await commit(t, id, NODE_B_TOKEN)).code).toBe('NOT_FOUND');
      expect((await commit(t, id)).status).toBe(200);
      expect(await peerFile('/user_homes/alice/report.txt')).toBe(sha('alice wrote this'));
      // Once committed, another node still learns nothing (not ALREADY_COMMITTED).
      expect((await commit(t, id, NODE_B_TOKEN)).code).toBe('NOT_FOUND');
    });

    it('gives the upload URL a 128-bit key; without it, or with a wrong one, the body is refused', async () => {
      const { id, url } = await openUpload(t, '/user_homes/alice/keyed.txt', 'keyed');
      const key = new URL(url).searchParams.get('key')!;
      expect(key).toMatch(/^[A-Za-z0-9_-]{22}$/); // 22 base64url characters = 132 bits, 128 of them key
      const bare = url.replace(/\?.*$/, '');
      const wrong = `${bare}?key=${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`;
      for (const attempt of [bare, wrong]) {
        const answer = await putBody(t, attempt, 'keyed');
        expect([answer.status, answer.code]).toEqual([404, 'NOT_FOUND']);
      }
      // The admin token may act on any change, with its URL.
      expect((await putBody(t, url, 'keyed', ADMIN_TOKEN)).status).toBe(200);
      expect((await commit(t, id, ADMIN_TOKEN)).status).toBe(200);
      expect(await peerFile('/user_homes/alice/keyed.txt')).toBe(sha('keyed'));
    });
  });

  describe('3. reserved and root paths', () => {
    let t: TestRelay;
    beforeAll(async () => {
      t = await relay();
    });

    it('refuses every file change at or below /.vfs-relay/ and keeps the peer configuration tree', async () => {
      const doc = '<?xml version="1.0"?><user><username>john</username></user>';
      const put = await call(t, '/v1/config/users/john.XML', {
        method: 'PUT',
        headers: { 'content-type': 'application/xml' },
        body: doc,
      });
      expect(put.status).toBe(202);
      expect(await peerFile('/.vfs-relay/config/users/john.XML')).toBe(sha(doc));

      for (const fields of [
        { action: 'delete', path: '/.vfs-relay' },
        { action: 'delete', path: '/.vfs-relay/config/users/john.XML' },
        { action: 'makedir', path: '/.vfs-relay/x' },
        { action: 'mdtm', path: '/.vfs-relay/config', modified: '2026-01-01T00:00:00Z' },
        { action: 'upload', path: '/.vfs-relay/config/users/john.XML', size: 1 },
        { action: 'rename', path: '/user_homes/evil.XML', target: '/.vfs-relay/config/users/john.XML' },
        { action: 'rename', path: '/.vfs-relay/config', target: '/user_homes/stolen' },
        // The same folder on a case-insensitive peer, or on Windows, which drops trailing dots and spaces (found
        // by a review: these were replayed into the peer's configuration tree).
        { action: 'upload', path: '/.VFS-RELAY/config/users/john.XML', size: 1 },
        { action: 'delete', path: '/.Vfs-Relay/config' },
        { action: 'makedir', path: '/.vfs-relay./config' },
        { action: 'rename', path: '/user_homes/evil.XML', target: '/.vfs-relay /config/users/john.XML' },
      ]) {
        const answer = await change(t, fields);
        expect([answer.status, answer.code], JSON.stringify(fields)).toEqual([400, 'RESERVED_PATH']);
      }
      expect((await call(t, '/v1/changes', { token: ADMIN_TOKEN })).json.items).toEqual([]);
      expect((await apache.tree()).get('.vfs-relay/config/users/john.XML')).toBe(sha(doc));
    });

    it('refuses to create, replace, remove or rename a replicated location itself; changes inside flow on', async () => {
      const nested = await relay({
        vfs: [
          { path: '/user_homes', replicate: true },
          { path: '/shared/projects', replicate: true },
        ],
      });
      for (const fields of [
        { action: 'upload', path: '/user_homes', size: 0 },
        { action: 'delete', path: '/user_homes' },
        { action: 'makedir', path: '/user_homes' },
        { action: 'rename', path: '/user_homes', target: '/user_homes2' },
        { action: 'rename', path: '/shared/projects', target: '/shared/old' },
        { action: 'delete', path: '/shared/projects/' },
        // Into or onto itself as well: the location is what is wrong with them (not 422 BAD_RENAME).
        { action: 'rename', path: '/user_homes', target: '/user_homes/x' },
        { action: 'rename', path: '/user_homes/a/b', target: '/user_homes' },
      ]) {
        const answer = await change(nested, fields);
        expect([answer.status, answer.code], JSON.stringify(fields)).toEqual([400, 'LOCATION_ROOT']);
      }
      // A replicated location inside a replicated one: removing its parent would remove it too.
      const outer = await relay({
        vfs: [
          { path: '/', replicate: true },
          { path: '/shared/projects', replicate: true },
        ],
      });
      for (const fields of [
        { action: 'delete', path: '/shared' },
        { action: 'rename', path: '/shared', target: '/elsewhere' },
        { action: 'rename', path: '/drafts/projects', target: '/shared/projects' },
        { action: 'rename', path: '/drafts', target: '/shared' },
      ]) {
        const answer = await change(outer, fields);
        expect([answer.status, answer.code], JSON.stringify(fields)).toEqual([400, 'LOCATION_ROOT']);
      }
      expect((await call(nested, '/v1/changes', { token: ADMIN_TOKEN })).json.items).toEqual([]);
      // Its modified time is not the location itself; what is inside goes through.
      const mdtm = await change(nested, { action: 'mdtm', path: '/user_homes', modified: '2026-01-01T00:00:00Z' });
      expect(mdtm.status).toBe(202);
      const { id, url } = await openUpload(nested, '/user_homes/inside.txt', 'inside');
      await putBody(nested, url, 'inside');
      expect((await commit(nested, id)).status).toBe(200);
      expect(await peerFile('/user_homes/inside.txt')).toBe(sha('inside'));
    });
  });

  describe('4. unfinished uploads expire', () => {
    it('shows what an unfinished upload holds back, drops it after the idle time, and lets the rest through', async () => {
      let now = Date.parse('2026-12-01T10:00:00Z');
      const lines: string[] = [];
      const { JsonLogger } = await import('../../src/adapters/log/json-logger.js');
      const t = await relay({}, { now: () => new Date(now), logger: new JsonLogger((l) => lines.push(l), 'info') });
      const stalled = await openUpload(t, '/user_homes/stall/big.iso', 'never sent');
      const behind = await change(t, { action: 'makedir', path: '/user_homes/stall' });
      const beside = await change(t, { action: 'makedir', path: '/user_homes/elsewhere' });
      expect([behind.status, beside.status]).toEqual([202, 202]);
      const behindId = behind.json.id as string;
      await peerFile('/user_homes/elsewhere');

      const shown = await call(t, `/v1/changes/${behindId}`, { token: ADMIN_TOKEN });
      expect(shown.json).toMatchObject({ status: 'BLOCKED', peers: [{ status: 'BLOCKED', blockedBy: stalled.id }] });
      const listed = await call(t, '/v1/changes?status=BLOCKED', { token: ADMIN_TOKEN });
      expect(listed.json.items).toMatchObject([{ id: behindId, peers: [{ blockedBy: stalled.id }] }]);

      now += 59 * 60_000; // not idle long enough yet (default: one hour)
      expect(await t.relay.expiry.expireKnown()).toBe(0);
      now += 2 * 60_000;
      expect(await t.relay.expiry.expireKnown()).toBe(1);
      expect((await call(t, `/v1/changes/${stalled.id}`, { token: ADMIN_TOKEN })).status).toBe(404);
      expect(t.relay.expiry.expired).toBe(1);
      const scrape = await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(await scrape.text()).toMatch(/^vfs_relay_uploads_expired_total\{node="[^"]+"\} 1$/m);
      const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(logged).toContainEqual(
        expect.objectContaining({ level: 'warn', message: 'upload expired: no body activity', entryId: stalled.id }),
      );
      // What waited behind it replays now; the node that comes back late finds its upload gone.
      await waitFor(async () => (await apache.tree()).has('user_homes/stall'), 20_000);
      expect((await putBody(t, stalled.url, 'never sent')).status).toBe(404);
    });

    it('counts a body arriving as activity: the idle time runs from its end', async () => {
      let now = Date.parse('2026-12-01T10:00:00Z');
      const t = await relay({}, { now: () => new Date(now) });
      const body = 'x'.repeat(1000);
      const { id, url } = await openUpload(t, '/user_homes/slow/body.bin', body);
      const { connect } = await import('node:net');
      const target = new URL(url);
      const socket = connect(Number(target.port), target.hostname);
      socket.on('error', () => {});
      socket.write(
        `PUT ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\n` +
          `Authorization: Bearer ${NODE_A_TOKEN}\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`,
      );
      await waitFor(async () => t.relay.intake.ledger.isReceiving(id), 10_000);
      now += 2 * 3600_000;
      expect(await t.relay.expiry.expireKnown()).toBe(0); // a body is arriving
      const answered = new Promise<string>((resolve) => socket.once('data', (d) => resolve(d.toString())));
      socket.write(body.slice(10));
      expect(await answered).toMatch(/^HTTP\/1\.1 200/);
      socket.destroy();
      now += 59 * 60_000;
      expect(await t.relay.expiry.expireKnown()).toBe(0); // the idle time runs from the body's end
      now += 2 * 60_000;
      expect(await t.relay.expiry.expireKnown()).toBe(1); // body there, never committed
      expect((await commit(t, id)).status).toBe(404);
    });

    it("bounds an upload's life: a body kept trickling is cut off and the upload dropped", async () => {
      // A node that keeps its body "active" (a byte now and then, or PUT again and again) would otherwise hold back
      // every later change to the path, other nodes' included, until an operator skipped it.
      let now = Date.parse('2026-12-01T10:00:00Z');
      const lines: string[] = [];
      const { JsonLogger } = await import('../../src/adapters/log/json-logger.js');
      const t = await relay(
        { limits: { uploadMaxLifetimeSeconds: 6 * 3600 } },
        { now: () => new Date(now), logger: new JsonLogger((l) => lines.push(l), 'info') },
      );
      const body = 'x'.repeat(1000);
      const held = await openUpload(t, '/user_homes/held/file.bin', body);
      const behind = await change(t, { action: 'makedir', path: '/user_homes/held/sub' }, NODE_B_TOKEN);
      expect(behind.status).toBe(202);
      const { connect } = await import('node:net');
      const target = new URL(held.url);
      const socket = connect(Number(target.port), target.hostname);
      socket.on('error', () => {});
      const answered = new Promise<string>((resolve) => {
        let text = '';
        socket.on('data', (d) => {
          text += d.toString();
        });
        socket.once('close', () => resolve(text));
      });
      socket.write(
        `PUT ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\n` +
          `Authorization: Bearer ${NODE_A_TOKEN}\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`,
      );
      await waitFor(async () => t.relay.intake.ledger.isReceiving(held.id), 10_000);
      now += 6 * 3600_000 - 1000; // its body still arriving, just short of the lifetime
      expect(await t.relay.expiry.expireKnown()).toBe(0);
      expect(t.relay.intake.ledger.isReceiving(held.id)).toBe(true);
      now += 1000;
      expect(await t.relay.expiry.expireKnown()).toBe(1);
      // The body's request is answered 410 (the upload is gone) without waiting for the client's next byte.
      expect(await answered).toMatch(/^HTTP\/1\.1 410/);
      expect(await answered).toContain('"code":"UPLOAD_EXPIRED"');
      expect((await call(t, `/v1/changes/${held.id}`, { token: ADMIN_TOKEN })).status).toBe(404);
      const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(logged).toContainEqual(
        expect.objectContaining({ message: 'upload expired: older than its lifetime', entryId: held.id }),
      );
      await waitFor(async () => (await apache.tree()).has('user_homes/held/sub'), 20_000);
      expect((await putBody(t, held.url, body)).status).toBe(404);

      // A body that ended a moment ago (PUT again before the idle expiry) does not keep an old upload either.
      const again = await openUpload(t, '/user_homes/held/again.bin', 'again');
      now += 6 * 3600_000 - 1000;
      expect((await putBody(t, again.url, 'again')).status).toBe(200);
      expect(await t.relay.expiry.expireKnown()).toBe(0);
      now += 1000;
      expect(await t.relay.expiry.expireKnown()).toBe(1);
      expect((await commit(t, again.id)).status).toBe(404);
    });

    it('expires on its own timer', async () => {
      const t = await relay({ limits: { uploadIdleExpirySeconds: 0.3 } });
      const idle = await openUpload(t, '/user_homes/timer/idle.txt', 'idle');
      // Waits for the event (the timer's drop), not for a time.
      await waitFor(async () => t.relay.expiry.expired === 1, 10_000);
      expect((await call(t, `/v1/changes/${idle.id}`, { token: ADMIN_TOKEN })).status).toBe(404);
    });

    it('caps the uploads one node may leave unfinished: 429 TOO_MANY_UPLOADS with Retry-After', async () => {
      const t = await relay({ limits: { maxUnfinishedUploadsPerNode: 2 } });
      const first = await openUpload(t, '/user_homes/cap/1.txt', 'one');
      await openUpload(t, '/user_homes/cap/2.txt', 'two');
      const third = await change(t, { action: 'upload', path: '/user_homes/cap/3.txt', size: 5 });
      expect([third.status, third.code]).toEqual([429, 'TOO_MANY_UPLOADS']);
      expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
      // Other nodes, and other actions, are not held back by node-a's uploads.
      expect((await change(t, { action: 'upload', path: '/user_homes/cap/b.txt', size: 1 }, NODE_B_TOKEN)).status).toBe(
        201,
      );
      expect((await change(t, { action: 'makedir', path: '/user_homes/cap/dir' })).status).toBe(202);
      // Finishing one frees its place.
      await putBody(t, first.url, 'one');
      expect((await commit(t, first.id)).status).toBe(200);
      expect((await change(t, { action: 'upload', path: '/user_homes/cap/3.txt', size: 5 })).status).toBe(201);
    });
  });

  describe('5. the token table', () => {
    it.each([
      [{ 'node-a': 'shared-token-0123456789', 'node-b': 'shared-token-0123456789' }, 'auth.nodeTokens.node-b'],
      [{ 'node-a': ADMIN_TOKEN }, 'auth.nodeTokens.node-a'],
      [{ 'node-a': 'short-token' }, 'auth.nodeTokens.node-a'],
    ])('refuses to start with %j, in one line naming %s and no token', async (nodeTokens, key) => {
      const started = startTestRelay({
        peers: [peerConfig(apache, 'server2')],
        auth: { adminToken: ADMIN_TOKEN, nodeTokens },
      });
      const error = (await started.then(
        (t) => {
          relays.push(t);
          return undefined;
        },
        (e: unknown) => e,
      )) as Error | undefined;
      expect(error?.message).toMatch(new RegExp(`^config ${key.replace(/\./g, '\\.')}: [^\n]+$`));
      for (const token of [ADMIN_TOKEN, ...Object.values(nodeTokens)]) expect(error?.message).not.toContain(token);
    });
  });

  describe('6. slow and greedy clients', () => {
    /** A raw connection to the relay: writes what it is given, records what comes back and when it closes. */
    async function rawConnection(t: TestRelay) {
      const { connect } = await import('node:net');
      const { port } = new URL(t.url);
      const socket = connect(Number(port), '127.0.0.1');
      let received = '';
      socket.on('data', (d) => {
        received += d.toString();
      });
      socket.on('error', () => {});
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      return { socket, closed, received: () => received };
    }

    it('cuts off a body that stops arriving, as a warning; the change is free for its node again', async () => {
      const lines: string[] = [];
      const { JsonLogger } = await import('../../src/adapters/log/json-logger.js');
      const t = await relay(
        { limits: { bodyIdleTimeoutSeconds: 0.2 } },
        { logger: new JsonLogger((l) => lines.push(l), 'info') },
      );
      const body = 'z'.repeat(4096);
      const { id, url } = await openUpload(t, '/user_homes/idle/body.bin', body);
      const target = new URL(url);
      const conn = await rawConnection(t);
      conn.socket.write(
        `PUT ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\n` +
          `Authorization: Bearer ${NODE_A_TOKEN}\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 100)}`,
      );
      await conn.closed; // the relay closes it: waits for that event, not for a time
      await waitFor(async () => !t.relay.intake.ledger.isReceiving(id), 10_000);
      // The lock is free: the node sends the body again and commits.
      expect((await putBody(t, url, body)).status).toBe(200);
      expect((await commit(t, id)).status).toBe(200);
      expect(await peerFile('/user_homes/idle/body.bin')).toBe(sha(body));
      const logged = lines.map((l) => JSON.parse(l) as { level: string; message: string });
      expect(logged).toContainEqual(
        expect.objectContaining({ level: 'warn', message: 'request body idle: closing the connection' }),
      );
      expect(logged.filter((l) => l.level === 'error')).toEqual([]);
    });

    it('logs a client that drops mid-body as a warning, not an error', async () => {
      const lines: string[] = [];
      const { JsonLogger } = await import('../../src/adapters/log/json-logger.js');
      const t = await relay({}, { logger: new JsonLogger((l) => lines.push(l), 'info') });
      const body = 'd'.repeat(2 * 1024 * 1024);
      const { id, url } = await openUpload(t, '/user_homes/drop/body.bin', body);
      const target = new URL(url);
      const conn = await rawConnection(t);
      conn.socket.write(
        `PUT ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\n` +
          `Authorization: Bearer ${NODE_A_TOKEN}\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 65536)}`,
      );
      await waitFor(async () => t.relay.intake.ledger.isReceiving(id), 10_000);
      conn.socket.destroy();
      await waitFor(async () => lines.some((l) => l.includes('client went away mid-request')), 10_000);
      const logged = lines.map((l) => JSON.parse(l) as { level: string; message: string });
      expect(logged.filter((l) => l.level === 'error')).toEqual([]);
    });

    it('holds at most maxConnections connections; more are closed at once, and the relay stays up', async () => {
      const t = await relay({ limits: { maxConnections: 2 } });
      const held = [await rawConnection(t), await rawConnection(t)];
      // Each held connection has been answered once: the relay has accepted and counts it.
      for (const c of held) {
        c.socket.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
        await waitFor(async () => c.received().includes('200 OK'), 10_000);
      }
      const extra = await rawConnection(t);
      extra.socket.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      await extra.closed;
      expect(extra.received()).toBe('');
      held[0]!.socket.destroy();
      await held[0]!.closed;
      await waitFor(
        async () =>
          (await fetch(`${t.url}/healthz`).then(
            (r) => r.status,
            () => 0,
          )) === 200,
        10_000,
      );
      held[1]!.socket.destroy();
    });

    it('answers a node over its request rate 429 RATE_LIMITED with Retry-After; other nodes and the admin go on', async () => {
      const t = await relay({ limits: { nodeRequestsPerSecond: 0.001, nodeRequestBurst: 3 } });
      const makedir = (i: number, token = NODE_A_TOKEN) =>
        change(t, { action: 'makedir', path: `/user_homes/rate/${i}` }, token);
      for (let i = 0; i < 3; i++) expect((await makedir(i)).status).toBe(202);
      const limited = await makedir(3);
      expect([limited.status, limited.code]).toEqual([429, 'RATE_LIMITED']);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      // Every node endpoint takes from the same bucket; nothing was journaled for the refused ones.
      expect((await commit(t, '20260101T000000000Z-000000-abcdef')).code).toBe('RATE_LIMITED');
      expect((await makedir(4, NODE_B_TOKEN)).status).toBe(202);
      expect((await makedir(5, ADMIN_TOKEN)).status).toBe(202);
      expect((await call(t, '/v1/peers', { token: ADMIN_TOKEN })).status).toBe(200);
    });
  });

  describe('7. the journal is private', () => {
    it('keeps journal folders 0700 and files 0600: write-ahead log, entries, bodies, lock', async () => {
      const t = await relay({}, { replay: false });
      const big = 'b'.repeat(2 * 1024 * 1024); // over the write-ahead log's inline limit: fsynced in its folder
      for (const [name, body] of [
        ['small.txt', 'small'],
        ['big.bin', big],
      ] as const) {
        const { id, url } = await openUpload(t, `/user_homes/private/${name}`, body);
        expect((await putBody(t, url, body)).status).toBe(200);
        expect((await commit(t, id)).status).toBe(200);
      }
      expect((await change(t, { action: 'makedir', path: '/user_homes/private/dir' })).status).toBe(202);
      const { readdir, stat } = await import('node:fs/promises');
      const { join } = await import('node:path');
      const modes = new Map<string, number>();
      const walk = async (dir: string): Promise<void> => {
        modes.set(dir, (await stat(dir)).mode & 0o777);
        for (const entry of await readdir(dir, { withFileTypes: true })) {
          const path = join(dir, entry.name);
          if (entry.isDirectory()) await walk(path);
          else modes.set(path, (await stat(path)).mode & 0o777);
        }
      };
      // The entry folders are written a moment after the answer: wait until both uploads have their body.
      await waitFor(
        async () => {
          modes.clear();
          await walk(t.journal);
          return [...modes.keys()].filter((p) => p.endsWith('/upload')).length === 2;
        },
        10_000,
        () => JSON.stringify([...modes.keys()]),
      );
      expect([...modes.keys()].some((p) => p.endsWith('.wal'))).toBe(true);
      expect([...modes.keys()].some((p) => p.endsWith('config.XML'))).toBe(true);
      const open = [...modes].filter(([, mode]) => (mode & 0o077) !== 0).map(([p, m]) => `${p} ${m.toString(8)}`);
      expect(open).toEqual([]);
    });

    it('refuses to start with an admin-token file that others can read', async () => {
      const { tempDir } = await import('../support/tmp.js');
      const { writeFile } = await import('node:fs/promises');
      const { join } = await import('node:path');
      const dir = await tempDir();
      try {
        await writeFile(join(dir.dir, 'admin-token'), 'an-admin-token-someone-else-read\n', { mode: 0o644 });
        const started = startTestRelay(
          { peers: [peerConfig(apache, 'server2')], auth: { nodeTokens: { 'node-a': NODE_A_TOKEN } } },
          { journal: dir.dir },
        );
        const error = await started.then(
          async (t) => {
            await t.close();
            return undefined;
          },
          (e: unknown) => e as Error,
        );
        expect(error?.message).toMatch(
          /^config auth\.adminToken: .*admin-token can be read by other users \(mode 0644\)/,
        );
        expect(error?.message).not.toContain('an-admin-token-someone-else-read');
        // The journal was closed again: a relay with a private token starts on the same folder.
        await writeFile(join(dir.dir, 'admin-token'), 'an-admin-token-kept-private\n', { mode: 0o600 });
        const { chmod } = await import('node:fs/promises');
        await chmod(join(dir.dir, 'admin-token'), 0o600);
        const t = await startTestRelay(
          { peers: [peerConfig(apache, 'server2')], auth: { nodeTokens: { 'node-a': NODE_A_TOKEN } } },
          { journal: dir.dir },
        );
        expect(t.relay.adminToken).toBe('an-admin-token-kept-private');
        await t.close();
      } finally {
        await dir.remove();
      }
    });
  });

  describe('9. strict documents and paths', () => {
    it('journals only one well-formed XML 1.0 document in UTF-8; the peer keeps the last good one', async () => {
      const t = await relay();
      const good = '<?xml version="1.0" encoding="UTF-8"?><user><username>mary</username></user>';
      const putDoc = (body: string | Buffer) =>
        call(t, '/v1/config/users/mary.XML', {
          method: 'PUT',
          headers: { 'content-type': 'application/xml' },
          body,
        });
      expect((await putDoc(good)).status).toBe(202);
      expect(await peerFile('/.vfs-relay/config/users/mary.XML')).toBe(sha(good));
      for (const bad of [
        `${good}<user><username>root</username></user>`,
        '<user><username>mary</username><admin>&owner;</admin></user>',
        '<user>\u0000</user>',
        Buffer.from('<user>caf\u00e9</user>', 'latin1'),
      ]) {
        const answer = await putDoc(bad);
        expect([answer.status, answer.code], String(bad)).toEqual([422, 'BAD_DOCUMENT']);
      }
      expect((await call(t, '/v1/changes', { token: ADMIN_TOKEN })).json.items).toEqual([]);
      expect((await apache.tree()).get('.vfs-relay/config/users/mary.XML')).toBe(sha(good));
    });

    it('refuses paths and user names with format characters, and parses numbers strictly', async () => {
      const t = await relay();
      for (const fields of [
        { action: 'makedir', path: '/user_homes/invoice\u202efdp.exe' },
        { action: 'makedir', path: '/user_homes/ad\u200bmin' },
        { action: 'makedir', path: '/user_homes/ok', user: 'jo\u2066hn' },
      ]) {
        const answer = await change(t, fields);
        expect([answer.status, answer.code], JSON.stringify(fields)).toEqual([400, 'BAD_PATH']);
      }
      const oneRequest = await call(t, '/v1/uploads?path=%2Fuser_homes%2Fsize.bin&size=1e1', {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body: 'x'.repeat(10),
      });
      expect([oneRequest.status, oneRequest.code]).toEqual([400, 'BAD_REQUEST']);
      expect((await call(t, '/v1/changes', { token: ADMIN_TOKEN })).json.items).toEqual([]);
    });
  });

  describe('8. the Host header', () => {
    it("builds upload URLs from the listen address, never from the client's Host header", async () => {
      const t = await relay();
      const { port } = new URL(t.url);
      const { request } = await import('node:http');
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port: Number(port),
            method: 'POST',
            path: '/v1/changes',
            headers: { ...jsonHeaders(NODE_A_TOKEN), host: 'evil.example:666' },
          },
          (res) => {
            let body = '';
            res.on('data', (chunk) => {
              body += chunk;
            });
            res.on('end', () => resolve({ status: res.statusCode!, body }));
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify({ action: 'upload', path: '/user_homes/host.txt', size: 1 }));
      });
      expect(answer.status).toBe(201);
      const { upload } = JSON.parse(answer.body) as { upload: { url: string } };
      expect(upload.url.startsWith(`${t.url}/v1/changes/`)).toBe(true);
      expect(upload.url).not.toContain('evil.example');
    });
  });
});
