import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RelayClient } from '../../src/agent/client.js';
import { RelayRefusedError, RelayUnavailableError, UploadUrlRefusedError } from '../../src/agent/errors.js';
import type { RetryClock } from '../../src/agent/retry.js';

interface Seen {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

type Answer = Response | Error;

/** A fetch that records requests (reading streamed bodies) and answers from a script, in order. */
function scripted(...answers: Answer[]): { fetch: typeof fetch; seen: Seen[] } {
  const seen: Seen[] = [];
  const fetchStub = async (input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    let body = '';
    if (typeof init.body === 'string') body = init.body;
    else if (init.body && Symbol.asyncIterator in (init.body as object)) {
      for await (const chunk of init.body as AsyncIterable<Uint8Array>) body += Buffer.from(chunk).toString();
    }
    seen.push({
      method: init.method ?? 'GET',
      url: String(input),
      headers: Object.fromEntries(Object.entries((init.headers ?? {}) as Record<string, string>)),
      body,
    });
    const answer = answers.shift();
    if (!answer) throw new Error('unexpected request');
    if (answer instanceof Error) throw answer;
    return answer;
  };
  return { fetch: fetchStub as typeof fetch, seen };
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
const refused = (status: number, code: string) => json(status, { error: { code, message: `${code} here` } });
const networkError = () => Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });

const NOW = Date.parse('2030-01-01T00:00:00Z');

/** Records the waits asked for instead of sleeping; no jitter (random 0.5 → factor 1, +10 % on Retry-After). */
function recordingClock(): RetryClock & { waits: number[] } {
  const waits: number[] = [];
  return { waits, now: () => NOW, random: () => 0.5, sleep: async (ms) => void waits.push(ms) };
}

/** The three-step flow unless `singleRequestUploads` is asked for (tested on its own). */
function client(
  fetchStub: typeof fetch,
  relay = 'http://relay.test:8787',
  singleRequestUploads = false,
  clock: RetryClock = recordingClock(),
) {
  return new RelayClient({
    relay,
    token: 'node-token',
    fetch: fetchStub,
    retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
    singleRequestUploads,
    clock,
  });
}

const throttled = (status: number, retryAfter?: string) =>
  new Response(JSON.stringify({ error: { code: 'RATE_LIMITED', message: 'slow down' } }), {
    status,
    headers: { 'content-type': 'application/json', ...(retryAfter ? { 'retry-after': retryAfter } : {}) },
  });

const change = { action: 'upload' as const, path: '/user_homes/a.txt', size: 5, sha256: 'ab'.repeat(32) };
const accepted = (url: string, id = 'c1') =>
  json(201, { id, status: 'AWAITING_BODY', upload: { method: 'PUT', url, headers: { 'x-extra': '1' } } });

describe('RelayClient', () => {
  it('retries network errors and 5xx, then succeeds', async () => {
    const { fetch, seen } = scripted(
      networkError(),
      refused(503, 'INTERNAL'),
      json(202, { id: 'c1', status: 'PENDING' }),
    );
    const receipt = await client(fetch).submitChange({ action: 'makedir', path: '/user_homes/d' });
    expect(receipt).toEqual({ id: 'c1', status: 'PENDING' });
    expect(seen).toHaveLength(3);
    expect(JSON.parse(seen[0]!.body)).toEqual({ action: 'makedir', path: '/user_homes/d' });
    expect(seen[0]!.headers.authorization).toBe('Bearer node-token');
  });

  it('retries 429 and 408 no sooner than Retry-After asks (seconds or an HTTP date), then succeeds', async () => {
    const { fetch, seen } = scripted(
      throttled(429, '7'),
      throttled(408),
      throttled(503, new Date(NOW + 12_000).toUTCString()),
      json(202, { id: 'c1', status: 'PENDING' }),
    );
    const clock = recordingClock();
    const relay = new RelayClient({
      relay: 'http://relay.test:8787',
      token: 'node-token',
      fetch,
      retry: { attempts: 4, baseDelayMs: 100, maxDelayMs: 1_000 },
      clock,
    });
    expect(await relay.submitChange({ action: 'makedir', path: '/user_homes/d' })).toEqual({
      id: 'c1',
      status: 'PENDING',
    });
    expect(seen).toHaveLength(4);
    // 7 s asked (+10 %), then the plain backoff (200 ms), then 12 s asked by date (+10 %).
    expect(clock.waits).toEqual([7_700, 200, 13_200]);
  });

  it('reports a relay that keeps throttling as unavailable (with the status and the wait it asked for)', async () => {
    const { fetch, seen } = scripted(throttled(429, '2'), throttled(429, '2'), throttled(429, '3'));
    const error = await client(fetch)
      .submitChange({ action: 'delete', path: '/user_homes/x' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RelayUnavailableError);
    expect(error).toMatchObject({ status: 429, retryAfterMs: 3_000, attempts: 3, isThrottled: true });
    expect(seen).toHaveLength(3);
  });

  it('re-reads the body when a throttled body PUT is retried', async () => {
    const { fetch, seen } = scripted(
      accepted('http://relay.test:8787/v1/changes/c1/body'),
      throttled(429, '1'),
      json(200, { id: 'c1', size: 5, sha256: change.sha256 }),
      json(200, { id: 'c1', status: 'PENDING' }),
    );
    let opened = 0;
    const receipt = await client(fetch).uploadFile(change, () => {
      opened += 1;
      return Readable.from([Buffer.from('hello')]);
    });
    expect(receipt).toEqual({ id: 'c1', status: 'PENDING' });
    expect(opened).toBe(2);
    expect(seen[2]!.body).toBe('hello');
  });

  it('gives up after the bounded attempts with RelayUnavailableError', async () => {
    const { fetch, seen } = scripted(networkError(), networkError(), networkError());
    const error = await client(fetch)
      .submitChange({ action: 'delete', path: '/user_homes/x' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RelayUnavailableError);
    expect((error as RelayUnavailableError).attempts).toBe(3);
    expect(seen).toHaveLength(3);
  });

  it('never retries a 4xx and reports its status, code and message', async () => {
    const { fetch, seen } = scripted(refused(400, 'BAD_PATH'));
    const error = await client(fetch)
      .submitChange({ action: 'delete', path: '/a/../b' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RelayRefusedError);
    expect(error).toMatchObject({ status: 400, code: 'BAD_PATH', message: '400 BAD_PATH: BAD_PATH here' });
    expect(seen).toHaveLength(1);
  });

  it('uploads a small body in one request, and falls back for good to three steps on a relay without it', async () => {
    const { fetch, seen } = scripted(
      json(201, { id: 'c1', status: 'PENDING' }),
      refused(404, 'NOT_FOUND'),
      accepted('http://relay.test:8787/v1/changes/c2/body', 'c2'),
      json(200, { id: 'c2', size: 5, sha256: change.sha256 }),
      json(200, { id: 'c2', status: 'PENDING' }),
      accepted('http://relay.test:8787/v1/changes/c3/body', 'c3'),
      json(200, { id: 'c3', size: 5, sha256: change.sha256 }),
      json(200, { id: 'c3', status: 'PENDING' }),
    );
    const relay = client(fetch, 'http://relay.test:8787', true);
    const body = () => Readable.from([Buffer.from('hello')]);
    expect(await relay.uploadFile(change, body)).toEqual({ id: 'c1', status: 'PENDING' });
    const one = new URL(seen[0]!.url);
    expect(`${seen[0]!.method} ${one.pathname}`).toBe('POST /v1/uploads');
    expect(one.searchParams.get('path')).toBe(change.path);
    expect(one.searchParams.get('size')).toBe('5');
    expect(one.searchParams.get('sha256')).toBe(change.sha256);
    expect(seen[0]).toMatchObject({
      body: 'hello',
      headers: { authorization: 'Bearer node-token', 'content-length': '5' },
    });
    expect(await relay.uploadFile(change, body)).toEqual({ id: 'c2', status: 'PENDING' }); // 404 → three steps
    expect(await relay.uploadFile(change, body)).toEqual({ id: 'c3', status: 'PENDING' }); // remembered
    expect(seen.map((s) => `${s.method} ${new URL(s.url).pathname}`).slice(1)).toEqual([
      'POST /v1/uploads',
      'POST /v1/changes',
      'PUT /v1/changes/c2/body',
      'POST /v1/changes/c2/commit',
      'POST /v1/changes',
      'PUT /v1/changes/c3/body',
      'POST /v1/changes/c3/commit',
    ]);
  });

  it('takes three steps for an upload a proxy refused as too large in one request, and one request again after', async () => {
    const { fetch, seen } = scripted(
      refused(413, 'PAYLOAD_TOO_LARGE'),
      accepted('http://relay.test:8787/v1/changes/c1/body', 'c1'),
      json(200, { id: 'c1', size: 5, sha256: change.sha256 }),
      json(200, { id: 'c1', status: 'PENDING' }),
      json(201, { id: 'c2', status: 'PENDING' }),
    );
    const relay = client(fetch, 'http://relay.test:8787', true);
    const body = () => Readable.from([Buffer.from('hello')]);
    expect(await relay.uploadFile(change, body)).toEqual({ id: 'c1', status: 'PENDING' });
    expect(await relay.uploadFile(change, body)).toEqual({ id: 'c2', status: 'PENDING' });
    expect(seen.map((s) => `${s.method} ${new URL(s.url).pathname}`)).toEqual([
      'POST /v1/uploads',
      'POST /v1/changes',
      'PUT /v1/changes/c1/body',
      'POST /v1/changes/c1/commit',
      'POST /v1/uploads',
    ]);
  });

  it('tells its tracker when the relay opens a three-step upload and when it is closed', async () => {
    const events: string[] = [];
    const uploads = {
      opened: async (id: string) => void events.push(`opened ${id}`),
      closed: async (id: string) => void events.push(`closed ${id}`),
    };
    const { fetch } = scripted(
      accepted('http://relay.test:8787/v1/changes/c1/body', 'c1'),
      json(200, { id: 'c1', size: 5, sha256: change.sha256 }),
      json(200, { id: 'c1', status: 'PENDING' }),
      // The next one: its body is refused for good; given up, closed.
      accepted('http://relay.test:8787/v1/changes/c2/body', 'c2'),
      refused(403, 'FORBIDDEN'),
      json(200, { id: 'c2', abandoned: true }),
      // And one the relay cannot be told about: it stays open for the agent's next start.
      accepted('http://relay.test:8787/v1/changes/c3/body', 'c3'),
      refused(403, 'FORBIDDEN'),
      networkError(),
    );
    const relay = client(fetch);
    const body = () => Readable.from([Buffer.from('hello')]);
    await relay.uploadFile(change, body, { uploads });
    await expect(relay.uploadFile(change, body, { uploads })).rejects.toMatchObject({ status: 403 });
    await expect(relay.uploadFile(change, body, { uploads })).rejects.toMatchObject({ status: 403 });
    expect(events).toEqual(['opened c1', 'closed c1', 'opened c2', 'closed c2', 'opened c3']);
  });

  it('uploads: change, streamed body with the token to the relay itself, commit', async () => {
    const { fetch, seen } = scripted(
      accepted('http://relay.test:8787/v1/changes/c1/body'),
      json(200, { id: 'c1', size: 5, sha256: change.sha256 }),
      json(200, { id: 'c1', status: 'PENDING' }),
    );
    const receipt = await client(fetch).uploadFile(change, () =>
      Readable.from([Buffer.from('hel'), Buffer.from('lo')]),
    );
    expect(receipt).toEqual({ id: 'c1', status: 'PENDING' });
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'POST http://relay.test:8787/v1/changes',
      'PUT http://relay.test:8787/v1/changes/c1/body',
      'POST http://relay.test:8787/v1/changes/c1/commit',
    ]);
    expect(seen[1]).toMatchObject({
      body: 'hello',
      headers: { authorization: 'Bearer node-token', 'content-length': '5', 'x-extra': '1' },
    });
  });

  it('keeps the token away from an upload URL elsewhere, and re-reads the body on a retried PUT', async () => {
    const { fetch, seen } = scripted(
      accepted('https://bucket.s3.test/presigned?sig=1'),
      networkError(),
      new Response('', { status: 200 }),
      json(200, { id: 'c1', status: 'PENDING' }),
    );
    let opened = 0;
    await client(fetch).uploadFile(change, () => {
      opened += 1;
      return Readable.from([Buffer.from('hello')]);
    });
    expect(opened).toBe(2);
    expect(seen[2]!.headers.authorization).toBeUndefined();
    expect(seen[2]!.body).toBe('hello');
  });

  it('counts a commit answered 409 ALREADY_COMMITTED as done', async () => {
    const { fetch } = scripted(
      accepted('http://relay.test:8787/v1/changes/c1/body'),
      json(200, {}),
      refused(500, 'INTERNAL'), // the commit went through, its answer was lost
      refused(409, 'ALREADY_COMMITTED'),
    );
    await expect(client(fetch).uploadFile(change, () => Readable.from([Buffer.from('hello')]))).resolves.toEqual({
      id: 'c1',
      status: 'PENDING',
    });
  });

  it('starts an upload over when the relay forgot it (restarted before the commit)', async () => {
    const { fetch, seen } = scripted(
      accepted('http://relay.test:8787/v1/changes/c1/body'),
      refused(404, 'CHANGE_NOT_FOUND'),
      accepted('http://relay.test:8787/v1/changes/c2/body', 'c2'),
      json(200, {}),
      json(200, { id: 'c2', status: 'PENDING' }),
    );
    await expect(client(fetch).uploadFile(change, () => Readable.from([Buffer.from('hello')]))).resolves.toEqual({
      id: 'c2',
      status: 'PENDING',
    });
    expect(seen.filter((s) => s.url.endsWith('/v1/changes'))).toHaveLength(2);
  });

  // What S3 answers a presigned PUT after its expiry (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html).
  const expired = () =>
    new Response('<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>', {
      status: 403,
      headers: { 'content-type': 'application/xml' },
    });

  it('starts an upload over with a fresh change and URL when the bucket refuses an expired presigned URL (403)', async () => {
    const { fetch, seen } = scripted(
      accepted('https://bucket.s3.test/presigned?sig=1'),
      expired(),
      json(200, { id: 'c1', abandoned: true }),
      accepted('https://bucket.s3.test/presigned?sig=2', 'c2'),
      new Response('', { status: 200 }),
      json(200, { id: 'c2', status: 'PENDING' }),
    );
    await expect(client(fetch).uploadFile(change, () => Readable.from([Buffer.from('hello')]))).resolves.toEqual({
      id: 'c2',
      status: 'PENDING',
    });
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'POST http://relay.test:8787/v1/changes',
      'PUT https://bucket.s3.test/presigned?sig=1',
      // The first change would wait for its body for an hour, holding back what comes after it: given up.
      'POST http://relay.test:8787/v1/changes/c1/abandon',
      'POST http://relay.test:8787/v1/changes',
      'PUT https://bucket.s3.test/presigned?sig=2',
      'POST http://relay.test:8787/v1/changes/c2/commit',
    ]);
  });

  it('reports a bucket that refuses every fresh URL as UploadUrlRefusedError, not as a refusal of the change or token', async () => {
    const { fetch } = scripted(
      ...[1, 2, 3].flatMap((n) => [
        accepted(`https://bucket.s3.test/presigned?sig=${n}`, `c${n}`),
        expired(),
        // An older relay without the route: nothing more to do.
        refused(404, 'NOT_FOUND'),
      ]),
    );
    const error = await client(fetch)
      .uploadFile(change, () => Readable.from([Buffer.from('hello')]))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UploadUrlRefusedError);
    expect(error).toMatchObject({ code: 'UPLOAD_URL_REFUSED' });
  });

  it('takes a 403 on a body PUT to the relay itself for what it is: the token', async () => {
    const { fetch, seen } = scripted(
      accepted('http://relay.test:8787/v1/changes/c1/body'),
      refused(403, 'FORBIDDEN'),
      networkError(), // the abandon finds the relay gone: the change is left to expire
    );
    await expect(client(fetch).uploadFile(change, () => Readable.from([Buffer.from('hello')]))).rejects.toMatchObject({
      status: 403,
      isAuthorization: true,
    });
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'POST http://relay.test:8787/v1/changes',
      'PUT http://relay.test:8787/v1/changes/c1/body',
      'POST http://relay.test:8787/v1/changes/c1/abandon',
    ]);
  });

  it('passes an IGNORED answer through without sending a body', async () => {
    const { fetch, seen } = scripted(json(200, { status: 'IGNORED', reason: 'NOT_REPLICATED' }));
    await expect(client(fetch).uploadFile(change, () => Readable.from([]))).resolves.toEqual({
      status: 'IGNORED',
      reason: 'NOT_REPLICATED',
    });
    expect(seen).toHaveLength(1);
  });

  it('puts and deletes configuration documents', async () => {
    const { fetch, seen } = scripted(
      json(202, { id: 'c9', status: 'PENDING' }),
      json(202, { id: 'c10', status: 'PENDING' }),
    );
    const api = client(fetch, 'http://relay.test:8787/');
    await api.putConfig('users', 'john.XML', '<user/>', 'application/xml');
    await api.deleteConfig('users', 'john smith.XML');
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'PUT http://relay.test:8787/v1/config/users/john.XML',
      'DELETE http://relay.test:8787/v1/config/users/john%20smith.XML',
    ]);
    expect(seen[0]).toMatchObject({ body: '<user/>', headers: { 'content-type': 'application/xml' } });
  });
});
