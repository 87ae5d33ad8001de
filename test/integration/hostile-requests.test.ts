import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN_TOKEN,
  jsonHeaders,
  NODE_A_TOKEN,
  NODE_B_TOKEN,
  startTestRelay,
  type TestRelay,
} from '../support/relay.js';
import { treeSnapshot } from '../support/tmp.js';

/**
 * Hostile and malformed requests over real HTTP (fetch, and raw sockets for what fetch cannot send) against one
 * relay. For every case: the documented status, the `{ error: { code, message } }` shape with the expected code,
 * no token in the answer, a journal that the hostile request left exactly as it was, and a relay still healthy.
 */

const MAX_UPLOAD_BYTES = 1000;
const WRONG_TOKEN = 'wrong-token-9f8e7d6c5b4a39281706';
const TOKEN_PREFIX = NODE_A_TOKEN.slice(0, -1);
/** Every secret the relay knows, and every credential the tests present: none may come back in an answer. */
const SECRETS = [ADMIN_TOKEN, NODE_A_TOKEN, NODE_B_TOKEN, WRONG_TOKEN, TOKEN_PREFIX];
/** A well-formed change id that names nothing in the journal. */
const UNKNOWN_ID = '20000101T000000000Z-000000-abcdef';
const RAW_TIMEOUT_MS = 5_000;

let testRelay: TestRelay;

// ---------------------------------------------------------------------------------------------------------------
// Requests

interface HttpSpec {
  method: string;
  /** Appended verbatim to the relay's base URL (percent-encoding is kept as written). */
  path: string;
  /** Bearer token; default NODE_A_TOKEN; null sends no Authorization header. */
  token?: string | null;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

interface RawSpec {
  /** Bytes written as they are to a fresh TCP connection. */
  raw: string | Buffer;
}

type RequestSpec = HttpSpec | RawSpec;

interface Answer {
  status: number;
  headers: Record<string, string>;
  text: string;
}

async function send(spec: RequestSpec): Promise<Answer> {
  if ('raw' in spec) return rawRequest(spec.raw);
  const headers: Record<string, string> = { ...spec.headers };
  const token = spec.token === undefined ? NODE_A_TOKEN : spec.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const init: RequestInit = { method: spec.method, headers };
  if (spec.body !== undefined) init.body = spec.body;
  const res = await fetch(`${testRelay.url}${spec.path}`, init);
  return { status: res.status, headers: Object.fromEntries(res.headers), text: await res.text() };
}

/** One request on its own connection, read until the relay closes it (or RAW_TIMEOUT_MS passes). */
function rawRequest(payload: string | Buffer): Promise<Answer> {
  const { hostname, port } = new URL(testRelay.url);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host: hostname, port: Number(port) });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer within ${RAW_TIMEOUT_MS} ms; got ${JSON.stringify(collected())}`));
    }, RAW_TIMEOUT_MS);
    const collected = () => Buffer.concat(chunks).toString('latin1');
    const finish = () => {
      clearTimeout(timer);
      try {
        resolve(parseRawResponse(collected()));
      } catch (error) {
        reject(error);
      }
    };
    socket.on('connect', () => socket.write(payload));
    socket.on('data', (chunk) => chunks.push(chunk));
    // The relay may reset the connection after answering while we still write: keep what arrived.
    socket.on('error', () => {});
    socket.on('close', finish);
  });
}

function parseRawResponse(raw: string): Answer {
  const split = raw.indexOf('\r\n\r\n');
  if (split < 0) throw new Error(`not an HTTP response: ${JSON.stringify(raw.slice(0, 500))}`);
  const [statusLine, ...lines] = raw.slice(0, split).split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '');
  if (!status) throw new Error(`bad status line: ${JSON.stringify(statusLine)}`);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = raw.slice(split + 4);
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) body = dechunk(body);
  return { status: Number(status[1]), headers, text: Buffer.from(body, 'latin1').toString('utf8') };
}

function dechunk(body: string): string {
  let out = '';
  let rest = body;
  for (;;) {
    const eol = rest.indexOf('\r\n');
    if (eol < 0) return out;
    const size = Number.parseInt(rest.slice(0, eol), 16);
    if (!Number.isFinite(size) || size === 0) return out;
    out += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 2 + size + 2);
  }
}

// Request builders ----------------------------------------------------------------------------------------------

/** POST /v1/changes with a JSON body (serialised here, so lone surrogates and NULs travel as \u escapes). */
const change = (fields: unknown, token: string | null = NODE_A_TOKEN): HttpSpec => ({
  method: 'POST',
  path: '/v1/changes',
  token,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(fields),
});

/** POST /v1/changes with this exact text as an application/json body. */
const changeText = (text: string): HttpSpec => ({
  method: 'POST',
  path: '/v1/changes',
  headers: { 'content-type': 'application/json' },
  body: text,
});

const operator = (method: string, path: string, token: string | null = ADMIN_TOKEN): HttpSpec => ({
  method,
  path,
  token,
});

/** Upload URLs (path and key) of the changes set up here, by id. */
const uploadPaths = new Map<string, string>();

/** The body PUT of change `id`: to its upload URL when the test set it up, else to the bare path (no key). */
const putBody = (id: string, body: string | Uint8Array, token: string | null = NODE_A_TOKEN): HttpSpec => ({
  method: 'PUT',
  path: uploadPaths.get(id) ?? `/v1/changes/${id}/body`,
  token,
  headers: { 'content-type': 'application/octet-stream' },
  body,
});

const commit = (id: string): HttpSpec => ({ method: 'POST', path: `/v1/changes/${id}/commit` });

const configDoc = (scope: string, name: string, contentType: string, body: string | Uint8Array): HttpSpec => ({
  method: 'PUT',
  path: `/v1/config/${scope}/${name}`,
  headers: { 'content-type': contentType },
  body,
});

const hostHeader = () => `Host: ${new URL(testRelay.url).host}\r\n`;

// Setup over HTTP (these requests are legitimate and must succeed) ----------------------------------------------

let pathCounter = 0;
const freshPath = (name: string) => `/user_homes/hostile/${++pathCounter}-${name}`;

async function journal(fields: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${testRelay.url}/v1/changes`, {
    method: 'POST',
    headers: jsonHeaders(NODE_A_TOKEN),
    body: JSON.stringify(fields),
  });
  const body = (await res.json()) as { id?: string; upload?: { url: string } };
  expect(res.status, `setup POST /v1/changes: ${JSON.stringify(body)}`).toBe(fields.action === 'upload' ? 201 : 202);
  expect(body.id).toBeTypeOf('string');
  if (body.upload) {
    const url = new URL(body.upload.url);
    uploadPaths.set(body.id!, `${url.pathname}${url.search}`);
  }
  return body.id!;
}

const setupUpload = (size: number, sha256?: string) =>
  journal({ action: 'upload', path: freshPath('file.bin'), size, ...(sha256 ? { sha256 } : {}) });
const setupMakedir = () => journal({ action: 'makedir', path: freshPath('folder') });

async function setupBody(id: string, body: string): Promise<void> {
  const res = await fetch(`${testRelay.url}${uploadPaths.get(id)}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${NODE_A_TOKEN}`, 'content-type': 'application/octet-stream' },
    body,
  });
  expect(res.status, `setup PUT body: ${await res.text()}`).toBe(200);
}

async function setupCommit(id: string): Promise<void> {
  const res = await fetch(`${testRelay.url}/v1/changes/${id}/commit`, {
    method: 'POST',
    headers: { authorization: `Bearer ${NODE_A_TOKEN}` },
  });
  expect(res.status, `setup commit: ${await res.text()}`).toBe(200);
  // A small upload is durable in the write-ahead log at the answer; its folders are written a moment later.
  const deadline = Date.now() + 5_000;
  const written = async () => {
    const folders = await entryFolders(id);
    const files = await Promise.all(folders.map((f) => readdir(join(testRelay.journal, f))));
    return folders.length > 0 && files.every((names) => names.includes('config.XML') && names.includes('upload'));
  };
  while (!(await written()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

// Journal inspection --------------------------------------------------------------------------------------------

/** The tree (relative path → size) plus a digest of every file's content: any write at all shows up. */
async function journalState(): Promise<Record<string, string>> {
  const tree = await treeSnapshot(testRelay.journal);
  const state: Record<string, string> = {};
  for (const [rel, size] of Object.entries(tree)) {
    if (rel.endsWith('/')) state[rel] = 'dir';
    else {
      const content = await readFile(join(testRelay.journal, rel));
      state[rel] = `${size}:${createHash('sha256').update(content).digest('hex')}`;
    }
  }
  return state;
}

/** Every entry folder of a change id, as paths relative to the journal root. */
async function entryFolders(id: string): Promise<string[]> {
  const found: string[] = [];
  for (const lane of await readdir(join(testRelay.journal, 'multi_journal'))) {
    const names = await readdir(join(testRelay.journal, 'multi_journal', lane)).catch(() => [] as string[]);
    if (names.includes(id)) found.push(join('multi_journal', lane, id));
  }
  return found;
}

/**
 * For refused bodies: the entry is still there, still AWAITING_BODY, with no `upload` file (nor a temporary).
 * An upload is not written to disk as config.XML until its commit publishes it, and its folder is made only when
 * a body too large for memory goes there: no folder, or an empty one.
 */
async function expectAwaitingWithoutBody(id: string): Promise<void> {
  const folders = await entryFolders(id);
  expect(folders.length, `entry folders of ${id}`).toBeLessThanOrEqual(1);
  for (const folder of folders) {
    expect(await readdir(join(testRelay.journal, folder)), 'files in the entry folder').toEqual([]);
  }
  const res = await fetch(`${testRelay.url}/v1/changes/${id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(((await res.json()) as { status: string }).status).toBe('AWAITING_BODY');
}

/** GET /healthz answers 200: on a fresh connection, and as the client's next request (fetch's keep-alive pool). */
async function expectHealthy(): Promise<void> {
  const fresh = await rawRequest(
    `GET /healthz HTTP/1.1\r\nHost: ${new URL(testRelay.url).host}\r\nConnection: close\r\n\r\n`,
  );
  expect(fresh.status, 'GET /healthz on a fresh connection').toBe(200);
  expect(JSON.parse(fresh.text)).toEqual({ status: 'ok' });
  // fetch reuses the keep-alive connection the relay just answered on: that must work too.
  const pooled = await fetch(`${testRelay.url}/healthz`).catch((error: Error) => error);
  const outcome = pooled instanceof Response ? pooled.status : `${pooled.message}: ${String(pooled.cause)}`;
  expect.soft(outcome, 'GET /healthz as the next request on the pooled connection').toBe(200);
  if (pooled instanceof Response) await pooled.body?.cancel();
}

// ---------------------------------------------------------------------------------------------------------------
// The cases

interface CaseContext {
  /** The id returned by `setup` (empty when the case has none). */
  id: string;
  /** The journal right before the hostile request. */
  before: Record<string, string>;
}

interface HostileCase {
  name: string;
  /** Legitimate requests that prepare the scene; they may change the journal. Returns a change id. */
  setup?: () => Promise<string>;
  request: RequestSpec | ((id: string) => RequestSpec);
  status: number;
  /** The expected `error.code` (or the acceptable ones, when more than one is right). */
  code: string | readonly string[];
  /**
   * Replaces the default "the journal is exactly as before the hostile request" assertion, for the few cases
   * where the documented reaction to the hostile request is itself a change (discarding a refused body).
   */
  checkJournal?: (ctx: CaseContext) => Promise<void>;
}

const LONG_PATH = `/user_homes/${'abcdefgh/'.repeat(455)}x`; // 4108 bytes, every segment short
const LONG_SEGMENT = `/user_homes/${'n'.repeat(256)}`;
const deepNesting = `${'['.repeat(5000)}${']'.repeat(5000)}`;
const BAD_SHA = '0'.repeat(64);
const notUtf8Change = Buffer.concat([
  Buffer.from('{"action":"makedir","path":"/user_homes/'),
  Buffer.from([0x80, 0xff]),
  Buffer.from('"}'),
]);

const cases: HostileCase[] = [
  // --- Malformed JSON ----------------------------------------------------------------------------------------
  {
    name: 'truncated JSON',
    request: changeText('{"action":"makedir","path":"/user_'),
    status: 400,
    code: 'MALFORMED_JSON',
  },
  {
    name: 'JSON with trailing garbage',
    request: changeText('{"action":"makedir","path":"/user_homes/x"} garbage'),
    status: 400,
    code: 'MALFORMED_JSON',
  },
  { name: 'empty JSON body', request: changeText(''), status: 400, code: 'MALFORMED_JSON' },
  // Bytes that are not UTF-8 (a lone continuation byte inside the path): refused, never decoded to U+FFFD.
  {
    name: 'JSON that is not valid UTF-8 (the Node route)',
    request: { ...changeText(''), body: notUtf8Change },
    status: 400,
    code: 'MALFORMED_JSON',
  },
  {
    name: 'JSON that is not valid UTF-8 (the app: a +json media type)',
    request: { ...changeText(''), headers: { 'content-type': 'application/merge-patch+json' }, body: notUtf8Change },
    status: 400,
    code: 'MALFORMED_JSON',
  },
  {
    name: 'job request that is not valid UTF-8',
    request: {
      ...operator('POST', '/v1/peers/server2/verify'),
      headers: { 'content-type': 'application/json' },
      body: Buffer.from([...Buffer.from('{"path":"/a'), 0xc3, 0x28, ...Buffer.from('"}')]),
    },
    status: 400,
    code: 'MALFORMED_JSON',
  },
  { name: 'JSON that is an array', request: changeText('[]'), status: 400, code: 'BAD_REQUEST' },
  { name: 'JSON that is a number', request: changeText('42'), status: 400, code: 'BAD_REQUEST' },
  { name: 'JSON that is null', request: changeText('null'), status: 400, code: 'BAD_REQUEST' },
  { name: 'JSON nested 5000 deep', request: changeText(deepNesting), status: 400, code: 'BAD_REQUEST' },

  // --- Wrong shapes and types --------------------------------------------------------------------------------
  // The API reports every schema failure of `path`/`target` as BAD_PATH (src/api/validation.ts), type errors too.
  { name: 'path is a number', request: change({ action: 'makedir', path: 42 }), status: 400, code: 'BAD_PATH' },
  { name: 'path missing', request: change({ action: 'makedir' }), status: 400, code: 'BAD_PATH' },
  { name: 'action missing', request: change({ path: '/user_homes/x' }), status: 400, code: 'BAD_REQUEST' },
  {
    name: 'unknown action',
    request: change({ action: 'chmod', path: '/user_homes/x' }),
    status: 400,
    code: 'BAD_REQUEST',
  },
  {
    name: 'size is a string',
    request: change({ action: 'upload', path: '/user_homes/x', size: '10' }),
    status: 400,
    code: 'BAD_REQUEST',
  },
  {
    name: 'size is negative',
    request: change({ action: 'upload', path: '/user_homes/x', size: -1 }),
    status: 400,
    code: 'BAD_REQUEST',
  },
  {
    name: 'size is a float',
    request: change({ action: 'upload', path: '/user_homes/x', size: 1.5 }),
    status: 400,
    code: 'BAD_REQUEST',
  },
  {
    name: 'size beyond 2^53',
    request: changeText('{"action":"upload","path":"/user_homes/x","size":9007199254740993}'),
    status: 400,
    code: 'BAD_REQUEST',
  },
  {
    name: 'extra unknown field',
    request: change({ action: 'makedir', path: '/user_homes/x', owner: 'root' }),
    status: 400,
    code: 'BAD_REQUEST',
  },
  {
    name: '__proto__ key (prototype pollution attempt)',
    request: changeText('{"action":"makedir","path":"/user_homes/x","__proto__":{"admin":true}}'),
    status: 400,
    code: 'BAD_REQUEST',
  },
  {
    name: 'user with a control character',
    request: change({ action: 'makedir', path: '/user_homes/x', user: 'jo\nhn' }),
    status: 400,
    code: 'BAD_REQUEST',
  },

  // --- Paths -------------------------------------------------------------------------------------------------
  ...(
    [
      ['"../" traversal', '/user_homes/../etc/passwd'],
      ['"/a/../b"', '/user_homes/a/../b'],
      ['"/a/./b"', '/user_homes/./b'],
      ['"//a"', '//user_homes/a'],
      ['empty segment inside', '/user_homes//a'],
      ['percent-encoded ".." segment', '/user_homes/a/%2e%2e/b'],
      ['percent-encoded separator "..%2f"', '/user_homes/a/..%2fb'],
      ['Windows absolute path', 'C:\\x\\y'],
      ['UNC path', '\\\\server\\share'],
      ['backslash inside', '/user_homes/a\\b'],
      ['relative path', 'user_homes/a/b'],
      ['empty path', ''],
      ['NUL byte', '/user_homes/a\u0000b'],
      ['newline', '/user_homes/a\nb'],
      ['DEL character', '/user_homes/a\u007fb'],
      ['C1 control character', '/user_homes/a\u0085b'],
      ['path longer than 4096 bytes', LONG_PATH],
      ['segment longer than 255 bytes', LONG_SEGMENT],
      ['lone surrogate', '/user_homes/a\ud800b'],
      ['right-to-left override (bidi)', '/user_homes/invoice\u202etxt.exe'],
      ['zero-width space', '/user_homes/ad\u200bmin'],
      ['byte order mark inside a name', '/user_homes/\ufeffa'],
      ['U+FFFE (not an XML character)', '/user_homes/a\ufffeb'],
      ['percent-encoded bidi override', '/user_homes/a%E2%80%AEb'],
    ] as const
  ).map(
    ([what, path]): HostileCase => ({
      name: `path: ${what}`,
      request: change({ action: 'makedir', path }),
      status: 400,
      code: 'BAD_PATH',
    }),
  ),
  { name: 'delete the root folder', request: change({ action: 'delete', path: '/' }), status: 400, code: 'BAD_PATH' },

  // --- Per-action rules --------------------------------------------------------------------------------------
  {
    name: 'rename without target',
    request: change({ action: 'rename', path: '/user_homes/a' }),
    status: 400,
    code: 'BAD_REQUEST',
  },
  {
    name: 'rename target with traversal',
    request: change({ action: 'rename', path: '/user_homes/a', target: '/user_homes/../etc/passwd' }),
    status: 400,
    code: 'BAD_PATH',
  },
  {
    name: 'rename a folder into itself',
    request: change({ action: 'rename', path: '/user_homes/a', target: '/user_homes/a/b' }),
    status: 422,
    code: 'BAD_RENAME',
  },
  {
    name: 'rename onto its own parent folder',
    request: change({ action: 'rename', path: '/user_homes/a/b', target: '/user_homes/a' }),
    status: 422,
    code: 'BAD_RENAME',
  },
  {
    name: 'rename onto itself',
    request: change({ action: 'rename', path: '/user_homes/a', target: '/user_homes/a/' }),
    status: 422,
    code: 'BAD_RENAME',
  },
  {
    name: 'rename out of the replicated location',
    request: change({ action: 'rename', path: '/user_homes/a', target: '/etc/a' }),
    status: 422,
    code: 'RENAME_ACROSS_LOCATIONS',
  },
  {
    name: 'upload without size',
    request: change({ action: 'upload', path: '/user_homes/a' }),
    status: 400,
    code: 'BAD_REQUEST',
  },
  {
    name: 'mdtm without modified',
    request: change({ action: 'mdtm', path: '/user_homes/a' }),
    status: 400,
    code: 'BAD_REQUEST',
  },
  {
    name: 'mdtm with an invalid date',
    request: change({ action: 'mdtm', path: '/user_homes/a', modified: '2026-13-45T99:99:99Z' }),
    status: 400,
    code: 'BAD_REQUEST',
  },
  {
    name: 'sha256 not hex',
    request: change({ action: 'upload', path: '/user_homes/a', size: 1, sha256: 'z'.repeat(64) }),
    status: 400,
    code: 'BAD_REQUEST',
  },
  {
    name: 'target on a non-rename',
    request: change({ action: 'delete', path: '/user_homes/a', target: '/user_homes/b' }),
    status: 400,
    code: 'BAD_REQUEST',
  },
  {
    name: 'size on a makedir',
    request: change({ action: 'makedir', path: '/user_homes/a', size: 1 }),
    status: 400,
    code: 'BAD_REQUEST',
  },

  // --- Authentication and roles ------------------------------------------------------------------------------
  {
    name: 'no Authorization header',
    request: change({ action: 'makedir', path: '/user_homes/a' }, null),
    status: 401,
    code: 'UNAUTHENTICATED',
  },
  {
    name: 'wrong token',
    request: change({ action: 'makedir', path: '/user_homes/a' }, WRONG_TOKEN),
    status: 401,
    code: 'UNAUTHENTICATED',
  },
  {
    name: 'prefix of a real token',
    request: change({ action: 'makedir', path: '/user_homes/a' }, TOKEN_PREFIX),
    status: 401,
    code: 'UNAUTHENTICATED',
  },
  {
    name: 'Basic scheme carrying a real token',
    request: {
      ...change({ action: 'makedir', path: '/user_homes/a' }, null),
      headers: {
        'content-type': 'application/json',
        authorization: `Basic ${Buffer.from(`node-a:${NODE_A_TOKEN}`).toString('base64')}`,
      },
    },
    status: 401,
    code: 'UNAUTHENTICATED',
  },
  {
    name: 'Bearer with two tokens',
    request: {
      ...change({ action: 'makedir', path: '/user_homes/a' }, null),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${WRONG_TOKEN} ${NODE_A_TOKEN}` },
    },
    status: 401,
    code: 'UNAUTHENTICATED',
  },
  {
    name: 'no token on GET /v1/peers',
    request: operator('GET', '/v1/peers', null),
    status: 401,
    code: 'UNAUTHENTICATED',
  },
  {
    name: 'no token on a configuration document',
    request: { ...configDoc('users', 'john.XML', 'application/xml', '<user/>'), token: null },
    status: 401,
    code: 'UNAUTHENTICATED',
  },
  {
    name: 'node token on GET /v1/changes',
    request: operator('GET', '/v1/changes', NODE_A_TOKEN),
    status: 403,
    code: 'FORBIDDEN',
  },
  {
    name: 'node token on GET /v1/changes/{id}',
    setup: setupMakedir,
    request: (id) => operator('GET', `/v1/changes/${id}`, NODE_A_TOKEN),
    status: 403,
    code: 'FORBIDDEN',
  },
  {
    name: 'node token on GET /v1/peers',
    request: operator('GET', '/v1/peers', NODE_A_TOKEN),
    status: 403,
    code: 'FORBIDDEN',
  },
  {
    name: 'node token on POST /v1/changes/{id}/retry',
    setup: setupMakedir,
    request: (id) => operator('POST', `/v1/changes/${id}/retry`, NODE_A_TOKEN),
    status: 403,
    code: 'FORBIDDEN',
  },
  {
    name: 'node token on DELETE /v1/changes/{id}',
    setup: setupMakedir,
    request: (id) => operator('DELETE', `/v1/changes/${id}`, NODE_A_TOKEN),
    status: 403,
    code: 'FORBIDDEN',
  },
  {
    name: 'node token on POST /v1/peers/x/ping',
    request: operator('POST', '/v1/peers/server2/ping', NODE_A_TOKEN),
    status: 403,
    code: 'FORBIDDEN',
  },

  // --- Media types and sizes ---------------------------------------------------------------------------------
  {
    name: 'text/plain on POST /v1/changes',
    request: {
      ...change({ action: 'makedir', path: '/user_homes/a' }),
      headers: { 'content-type': 'text/plain' },
    },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'no Content-Type on POST /v1/changes',
    request: {
      method: 'POST',
      path: '/v1/changes',
      body: new TextEncoder().encode(JSON.stringify({ action: 'makedir', path: '/user_homes/a' })),
    },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'JSON body over 64 KiB',
    request: change({ action: 'makedir', path: '/user_homes/a', user: 'u'.repeat(70 * 1024) }),
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
  },
  {
    name: 'upload size over the configured limit',
    request: change({ action: 'upload', path: '/user_homes/big.bin', size: MAX_UPLOAD_BYTES + 1 }),
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
  },
  {
    name: 'upload size of 1 PiB',
    request: change({ action: 'upload', path: '/user_homes/huge.bin', size: 2 ** 50 }),
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
  },

  // --- Change ids --------------------------------------------------------------------------------------------
  { name: 'body PUT for an unknown id', request: putBody(UNKNOWN_ID, 'hello'), status: 404, code: 'NOT_FOUND' },
  { name: 'body PUT with id "..%2F..%2Fetc"', request: putBody('..%2F..%2Fetc', 'hello'), status: 400, code: 'BAD_ID' },
  { name: 'body PUT with id "abc"', request: putBody('abc', 'hello'), status: 400, code: 'BAD_ID' },
  { name: 'commit with id "abc"', request: commit('abc'), status: 400, code: 'BAD_ID' },
  { name: 'commit with id "..%2F..%2Fetc"', request: commit('..%2F..%2Fetc'), status: 400, code: 'BAD_ID' },
  { name: 'commit an unknown id', request: commit(UNKNOWN_ID), status: 404, code: 'NOT_FOUND' },
  {
    name: 'GET with id "..%2F..%2Fetc"',
    request: operator('GET', '/v1/changes/..%2F..%2Fetc'),
    status: 400,
    code: 'BAD_ID',
  },
  { name: 'GET with id "abc"', request: operator('GET', '/v1/changes/abc'), status: 400, code: 'BAD_ID' },
  {
    name: 'GET with an id that has a trailing newline',
    request: operator('GET', `/v1/changes/${UNKNOWN_ID}%0A`),
    status: 400,
    code: 'BAD_ID',
  },
  { name: 'DELETE with id "abc"', request: operator('DELETE', '/v1/changes/abc'), status: 400, code: 'BAD_ID' },
  {
    name: 'GET an unknown change',
    request: operator('GET', `/v1/changes/${UNKNOWN_ID}`),
    status: 404,
    code: 'CHANGE_NOT_FOUND',
  },
  {
    name: 'DELETE an unknown change',
    request: operator('DELETE', `/v1/changes/${UNKNOWN_ID}`),
    status: 404,
    code: 'CHANGE_NOT_FOUND',
  },

  // --- Upload bodies and commits -----------------------------------------------------------------------------
  {
    name: 'body larger than the declared size',
    setup: () => setupUpload(10),
    request: (id) => putBody(id, 'x'.repeat(MAX_UPLOAD_BYTES)),
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
    checkJournal: async ({ id, before }) => {
      expect(await journalState()).toEqual(before);
      await expectAwaitingWithoutBody(id);
    },
  },
  {
    name: 'commit without a body',
    setup: () => setupUpload(5),
    request: commit,
    status: 409,
    code: 'BODY_MISSING',
  },
  {
    name: 'commit with a body shorter than declared (size mismatch)',
    setup: async () => {
      const id = await setupUpload(10);
      await setupBody(id, 'short');
      return id;
    },
    request: commit,
    status: 422,
    code: 'SIZE_MISMATCH',
    // The refused commit is documented to discard the stored body ("PUT the body again"), so the journal does
    // change: exactly the entry's `upload` file goes, and the entry stays AWAITING_BODY.
    checkJournal: async ({ id, before }) => {
      await expectAwaitingWithoutBody(id);
      const [folder] = await entryFolders(id);
      const expected = { ...before };
      if (folder) delete expected[join(folder, 'upload')]; // a body kept in memory left nothing on disk
      expect(await journalState()).toEqual(expected);
    },
  },
  {
    name: 'commit with a body that does not match sha256 (checksum mismatch)',
    setup: async () => {
      const id = await setupUpload(5, BAD_SHA);
      await setupBody(id, 'hello');
      return id;
    },
    request: commit,
    status: 422,
    code: 'CHECKSUM_MISMATCH',
    // As for the size mismatch: the refused body is discarded, nothing else changes.
    checkJournal: async ({ id, before }) => {
      await expectAwaitingWithoutBody(id);
      const [folder] = await entryFolders(id);
      const expected = { ...before };
      if (folder) delete expected[join(folder, 'upload')]; // a body kept in memory left nothing on disk
      expect(await journalState()).toEqual(expected);
    },
  },
  {
    name: 'commit twice',
    setup: async () => {
      const id = await setupUpload(5);
      await setupBody(id, 'hello');
      await setupCommit(id);
      return id;
    },
    request: commit,
    status: 409,
    code: 'ALREADY_COMMITTED',
  },
  {
    name: 'body PUT after the commit',
    setup: async () => {
      const id = await setupUpload(5);
      await setupBody(id, 'hello');
      await setupCommit(id);
      return id;
    },
    request: (id) => putBody(id, 'HELLO'),
    status: 409,
    code: 'ALREADY_COMMITTED',
  },
  {
    // A makedir has no upload URL: a body PUT cannot carry its key.
    name: 'body PUT for a makedir change',
    setup: setupMakedir,
    request: (id) => putBody(id, 'hello'),
    status: 404,
    code: 'NOT_FOUND',
  },
  { name: 'commit a makedir change', setup: setupMakedir, request: commit, status: 409, code: 'NOT_AN_UPLOAD' },

  // --- Operator actions --------------------------------------------------------------------------------------
  {
    name: 'retry a PENDING change',
    setup: setupMakedir,
    request: (id) => operator('POST', `/v1/changes/${id}/retry`),
    status: 409,
    code: 'NOT_RETRYABLE',
  },
  {
    name: 'retry for an unknown peer',
    setup: setupMakedir,
    request: (id) => operator('POST', `/v1/changes/${id}/retry?peer=nobody`),
    status: 404,
    code: 'CHANGE_NOT_FOUND',
  },
  {
    name: 'skip for an unknown peer',
    setup: setupMakedir,
    request: (id) => operator('DELETE', `/v1/changes/${id}?peer=nobody`),
    status: 404,
    code: 'CHANGE_NOT_FOUND',
  },
  {
    name: 'ping an unknown peer',
    request: operator('POST', '/v1/peers/nobody/ping'),
    status: 404,
    code: 'PEER_NOT_FOUND',
  },
  { name: 'list with limit=0', request: operator('GET', '/v1/changes?limit=0'), status: 400, code: 'BAD_REQUEST' },
  ...['1e2', '0x10', '%2012', '12abc', '12.0', '-1', '010'].map(
    (limit): HostileCase => ({
      name: `list with limit=${limit} (numbers parse strictly)`,
      request: operator('GET', `/v1/changes?limit=${limit}`),
      status: 400,
      code: 'BAD_REQUEST',
    }),
  ),
  ...['1e3', '0x10', '%2012', '12abc', '12.0', '+12'].map(
    (size): HostileCase => ({
      name: `one-request upload with size=${size} (numbers parse strictly)`,
      request: {
        method: 'POST',
        path: `/v1/uploads?path=%2Fuser_homes%2Fstrict.bin&size=${size}`,
        headers: { 'content-type': 'application/octet-stream' },
        body: 'x'.repeat(12),
      },
      status: 400,
      code: 'BAD_REQUEST',
    }),
  ),
  ...(
    [
      ['a C1 control character', 'a\u0085b'],
      ['a line separator', 'a\u2028b'],
      // Into config.XML beside the path (found by a review): U+FFFF made it ill-formed, and a lone surrogate was
      // journaled as U+FFFD, not as the node sent it.
      ['U+FFFF (not an XML character)', 'john\uffff'],
      ['a lone surrogate', 'john\ud800'],
    ] as const
  ).map(
    ([what, user]): HostileCase => ({
      name: `user name with ${what}`,
      request: change({ action: 'makedir', path: '/user_homes/x', user }),
      status: 400,
      code: 'BAD_REQUEST',
    }),
  ),
  {
    name: 'user name with a bidi override',
    request: change({ action: 'makedir', path: '/user_homes/x', user: 'adm\u202enimo' }),
    status: 400,
    code: 'BAD_PATH',
  },
  { name: 'list with limit=abc', request: operator('GET', '/v1/changes?limit=abc'), status: 400, code: 'BAD_REQUEST' },
  {
    name: 'list with a cursor no page gave out',
    request: operator('GET', '/v1/changes?cursor=garbage'),
    status: 400,
    code: 'BAD_REQUEST',
  },
  {
    name: 'list with an unknown status',
    request: operator('GET', '/v1/changes?status=DONE'),
    status: 400,
    code: 'BAD_REQUEST',
  },

  // --- Configuration documents -------------------------------------------------------------------------------
  {
    name: 'XML document with DOCTYPE/ENTITY (billion laughs)',
    request: configDoc(
      'users',
      'john.XML',
      'application/xml',
      '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><user>&lol2;</user>',
    ),
    status: 422,
    code: 'UNSAFE_DOCUMENT',
  },
  {
    name: 'XML document with an external entity (XXE), lower-case doctype',
    request: configDoc(
      'users',
      'john.XML',
      'application/xml',
      '<?xml version="1.0"?><!doctype user [<!entity xxe SYSTEM "file:///etc/passwd">]><user>&xxe;</user>',
    ),
    status: 422,
    code: 'UNSAFE_DOCUMENT',
  },
  {
    // text/xml is an XML media type (RFC 7303) that the route itself accepts (documentType in config-docs.ts).
    name: 'XML document with DOCTYPE sent as text/xml',
    request: configDoc(
      'users',
      'john.XML',
      'text/xml',
      '<?xml version="1.0"?><!DOCTYPE user [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><user>&xxe;</user>',
    ),
    status: 422,
    code: 'UNSAFE_DOCUMENT',
  },
  {
    // The DOCTYPE is invisible to a UTF-8 text search; refusing it as unsafe or as not UTF-8 are both right.
    name: 'UTF-16 XML document with DOCTYPE/ENTITY',
    request: configDoc(
      'users',
      'john.XML',
      'application/xml',
      Buffer.concat([
        Buffer.from([0xff, 0xfe]),
        Buffer.from(
          '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE u [<!ENTITY a "aaaaaaaaaa">]><u>&a;&a;</u>',
          'utf16le',
        ),
      ]),
    ),
    status: 422,
    code: ['UNSAFE_DOCUMENT', 'BAD_DOCUMENT'],
  },
  ...(
    [
      ['two root elements', '<user/><user/>'],
      ['text after the root element', '<user/>trailing'],
      ['an undeclared entity', '<user>&nbsp;</user>'],
      ['a NUL character', '<user>a\u0000b</user>'],
      ['a character reference to a control character', '<user>&#1;</user>'],
      ['version 1.1', '<?xml version="1.1"?><user/>'],
      ['a declared encoding other than UTF-8', '<?xml version="1.0" encoding="ISO-8859-1"?><user/>'],
      ['no root element', '<!-- nothing -->'],
    ] as const
  ).map(
    ([what, xml]): HostileCase => ({
      name: `XML document with ${what}`,
      request: configDoc('users', 'john.XML', 'application/xml', xml),
      status: 422,
      code: 'BAD_DOCUMENT',
    }),
  ),
  {
    name: 'XML document that is not UTF-8 (Latin-1 bytes)',
    request: configDoc('users', 'john.XML', 'application/xml', Buffer.from('<user>caf\u00e9</user>', 'latin1')),
    status: 422,
    code: 'BAD_DOCUMENT',
  },
  {
    name: 'malformed XML document',
    request: configDoc('users', 'john.XML', 'application/xml', '<user><name>john</user>'),
    status: 422,
    code: 'BAD_DOCUMENT',
  },
  {
    name: 'invalid JSON document',
    request: configDoc('prefs', 'john.json', 'application/json', '{"theme": '),
    status: 422,
    code: 'BAD_DOCUMENT',
  },
  {
    name: 'empty document',
    request: configDoc('users', 'john.XML', 'application/xml', ''),
    status: 422,
    code: 'EMPTY_DOCUMENT',
  },
  {
    name: 'document over 1 MiB',
    request: configDoc('users', 'john.XML', 'application/xml', `<user>${'a'.repeat(1024 * 1024)}</user>`),
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
  },
  {
    name: 'unknown configuration scope',
    request: configDoc('secrets', 'john.XML', 'application/xml', '<user/>'),
    status: 400,
    code: 'BAD_REQUEST',
  },
  {
    name: 'document sent as text/plain',
    request: configDoc('users', 'john.XML', 'text/plain', '<user/>'),
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'document name "..%2F..%2Fetc"',
    request: configDoc('users', '..%2F..%2Fetc', 'application/xml', '<user/>'),
    status: 400,
    code: 'BAD_PATH',
  },
  {
    name: 'document name with a NUL byte',
    request: configDoc('users', 'john%00.XML', 'application/xml', '<user/>'),
    status: 400,
    code: 'BAD_PATH',
  },
  {
    name: 'DELETE of a document named "..%2F..%2Fetc"',
    request: { method: 'DELETE', path: '/v1/config/users/..%2F..%2Fetc' },
    status: 400,
    code: 'BAD_PATH',
  },

  // --- Raw HTTP: what fetch cannot send ----------------------------------------------------------------------
  {
    name: 'request headers of 64 KiB',
    request: () => ({
      raw: `GET /healthz HTTP/1.1\r\n${hostHeader()}X-Padding: ${'p'.repeat(64 * 1024)}\r\nConnection: close\r\n\r\n`,
    }),
    status: 431,
    code: 'HEADERS_TOO_LARGE',
  },
  {
    name: 'garbage instead of a request line',
    request: { raw: 'HELLO RELAY\r\n\r\n' },
    status: 400,
    code: 'MALFORMED_HTTP',
  },
  {
    name: 'NUL byte in the request line',
    request: { raw: `GET /v1/changes/\u0000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n` },
    status: 400,
    code: 'MALFORMED_HTTP',
  },
  {
    name: 'NUL byte in a header value',
    request: {
      raw: `GET /v1/peers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ab\u0000cd\r\nConnection: close\r\n\r\n`,
    },
    status: 400,
    code: 'MALFORMED_HTTP',
  },
  {
    name: 'unknown HTTP version',
    request: { raw: 'GET /healthz HTTP/9.9\r\nHost: x\r\nConnection: close\r\n\r\n' },
    status: 400,
    code: 'MALFORMED_HTTP',
  },
  {
    name: 'non-numeric Content-Length',
    request: { raw: 'POST /v1/changes HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\nConnection: close\r\n\r\n' },
    status: 400,
    code: 'MALFORMED_HTTP',
  },
  {
    name: 'Content-Length and Transfer-Encoding together (request smuggling)',
    request: {
      raw:
        'POST /v1/changes HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n' +
        'Connection: close\r\n\r\n0\r\n\r\nGET /v1/peers HTTP/1.1\r\nHost: x\r\n\r\n',
    },
    status: 400,
    code: 'MALFORMED_HTTP',
  },
  {
    name: 'HTTP/1.1 request without Host',
    request: { raw: 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n' },
    status: 400,
    code: 'MALFORMED_HTTP',
  },
  {
    name: 'Host header that is not a host name',
    request: { raw: 'GET /healthz HTTP/1.1\r\nHost: exa mple\r\nConnection: close\r\n\r\n' },
    status: 400,
    code: 'MALFORMED_HTTP',
  },
  {
    name: 'backslash in the request path',
    request: { raw: 'GET /v1\\changes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' },
    status: 400,
    code: 'MALFORMED_HTTP',
  },
  {
    name: 'dot segments in the request target climbing to an operator endpoint',
    request: () => ({
      raw: `GET /v1/changes/x/../../peers HTTP/1.1\r\n${hostHeader()}Authorization: Bearer ${NODE_A_TOKEN}\r\nConnection: close\r\n\r\n`,
    }),
    status: 403,
    code: 'FORBIDDEN',
  },

  // --- Routing -----------------------------------------------------------------------------------------------
  { name: 'unknown route', request: operator('GET', '/v1/secrets'), status: 404, code: 'NOT_FOUND' },
  { name: 'unknown route without a token', request: operator('POST', '/admin', null), status: 404, code: 'NOT_FOUND' },
];

describe('hostile requests', () => {
  beforeAll(async () => {
    testRelay = await startTestRelay(
      {
        peers: [{ name: 'server2', url: 'http://127.0.0.1:9/' }],
        limits: { maxUploadBytes: MAX_UPLOAD_BYTES },
      },
      // Ingestion only: a replayer updating entries in the background would change the journal under the checks.
      { replay: false },
    );
  });

  afterAll(async () => {
    await testRelay?.close();
  });

  it('has at least 45 cases, each with a unique name', () => {
    expect(cases.length).toBeGreaterThanOrEqual(45);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  for (const c of cases) {
    it(`${c.name} → ${c.status} ${[c.code].flat().join('|')}`, async () => {
      const id = c.setup ? await c.setup() : '';
      const request = typeof c.request === 'function' ? c.request(id) : c.request;
      const before = await journalState();

      const answer = await send(request);

      expect.soft(answer.status, `status; body: ${answer.text.slice(0, 300)}`).toBe(c.status);
      expect.soft(answer.headers['content-type'] ?? '', 'content-type').toMatch(/^application\/json\b/);
      let body: unknown;
      try {
        body = JSON.parse(answer.text);
      } catch {
        body = undefined;
      }
      const codes: readonly string[] = typeof c.code === 'string' ? [c.code] : c.code;
      expect.soft(body, `JSON error body; got ${JSON.stringify(answer.text.slice(0, 300))}`).toEqual({
        error: { code: expect.toBeOneOf([...codes]), message: expect.any(String) },
      });
      const message = (body as { error?: { message?: unknown } } | undefined)?.error?.message;
      expect.soft(typeof message === 'string' && message.trim().length > 0, 'non-empty error message').toBe(true);
      const everything = `${JSON.stringify(answer.headers)}\n${answer.text}`;
      for (const secret of SECRETS) expect.soft(everything.includes(secret), 'a token in the answer').toBe(false);

      if (c.checkJournal) await c.checkJournal({ id, before });
      else expect.soft(await journalState(), 'journal after the hostile request').toEqual(before);

      await expectHealthy();
    });
  }

  it('an upload body cut off mid-stream leaves no upload file behind', async () => {
    const id = await setupUpload(500);
    const before = await journalState();
    const { hostname, port } = new URL(testRelay.url);
    await new Promise<void>((resolve) => {
      const socket = connect({ host: hostname, port: Number(port) });
      socket.on('error', () => {});
      socket.on('connect', () => {
        socket.write(
          `PUT ${uploadPaths.get(id)} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAuthorization: Bearer ${NODE_A_TOKEN}\r\n` +
            `Content-Type: application/octet-stream\r\nContent-Length: 500\r\n\r\n${'x'.repeat(100)}`,
          () =>
            setTimeout(() => {
              socket.destroy();
              resolve();
            }, 200),
        );
      });
    });
    // The relay cleans up asynchronously once it sees the connection gone: wait for it, within bounds.
    const deadline = Date.now() + 3_000;
    let after = await journalState();
    while (JSON.stringify(after) !== JSON.stringify(before) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      after = await journalState();
    }
    expect(after).toEqual(before);
    await expectAwaitingWithoutBody(id);
    await expectHealthy();
  });
});
