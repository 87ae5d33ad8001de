import { request } from 'node:http';
import { afterAll, beforeAll, expect } from 'vitest';
import { type RunningServer, startHttpServer } from '../../src/runtime/http-server.js';
import { startTestRelay, type TestRelay } from './relay.js';

/** A request sent exactly as written, for tests that compare two servers' answers header by header. */
export interface RawSpec {
  method?: string;
  /** Sent verbatim as the request target. */
  target: string;
  /** Raw header pairs, in order (repeats allowed); Host defaults to `host` (below), else the server's address. */
  headers?: [string, string][];
  body?: Buffer | string;
}

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/**
 * Sends `spec` to the server at `base` (method default POST), adding Host and Content-Length unless given.
 * `agent: false`: a connection of its own (closed after the answer); `host`: the default Host header.
 */
export function sendRaw(
  base: string,
  spec: RawSpec,
  options: { agent?: false; host?: string } = {},
): Promise<RawAnswer> {
  const { hostname, port } = new URL(base);
  const headers = spec.headers ?? [];
  const raw: string[] = [];
  if (!headers.some(([name]) => name.toLowerCase() === 'host')) raw.push('Host', options.host ?? `${hostname}:${port}`);
  for (const [name, value] of headers) raw.push(name, value);
  const body = spec.body === undefined ? undefined : Buffer.from(spec.body);
  if (body && !headers.some(([name]) => /^(content-length|transfer-encoding)$/i.test(name))) {
    raw.push('Content-Length', String(body.length));
  }
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: hostname,
        port: Number(port),
        method: spec.method ?? 'POST',
        path: spec.target,
        headers: raw,
        setHost: false,
        ...(options.agent === false ? { agent: false } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString() }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * What a client acts on: status, body (change ids and upload keys replaced by their shape, as each side makes its
 * own), and the headers that matter.
 */
export function comparable(answer: RawAnswer) {
  return {
    status: answer.status,
    body: answer.text
      .replace(/\d{8}T\d{9}Z-\d{6}-[0-9a-f]{6}/gi, '<id>')
      .replace(/key=[A-Za-z0-9_-]{22}/g, 'key=<key>'),
    contentType: answer.headers['content-type'],
    contentLength: answer.headers['content-length'],
    connection: answer.headers.connection,
    retryAfter: answer.headers['retry-after'],
    wwwAuthenticate: answer.headers['www-authenticate'],
  };
}

/**
 * The same requests sent to a rate-limited pair (startRateLimitedPair): both sides answered with `statuses`, alike
 * answer by answer, and the first refusal (429) asks the client to wait the bucket's refill (1,000 s).
 */
export function expectLimitedAlike(routes: RawAnswer[], app: RawAnswer[], statuses: number[]): void {
  expect(routes.map((a) => a.status)).toEqual(statuses);
  expect(app.map((a) => a.status)).toEqual(statuses);
  for (let i = 0; i < statuses.length; i++) expect(comparable(routes[i]!)).toEqual(comparable(app[i]!));
  expect(Number(routes[statuses.indexOf(429)]!.headers['retry-after'])).toBeGreaterThanOrEqual(999);
}

/**
 * A relay whose nodes may send two requests and then one per 1,000 s (the third is refused whatever the test
 * machine's speed), served twice: by its own server (`relay.url`, with the Node routes) and by `appOnly`, a server
 * of the app alone — for comparing how both refuse past the limit.
 */
export async function startRateLimitedPair(): Promise<{
  relay: TestRelay;
  appOnly: RunningServer;
  close(): Promise<void>;
}> {
  const relay = await startTestRelay(
    {
      peers: [{ name: 'server2', url: 'http://127.0.0.1:9/' }],
      limits: { nodeRequestsPerSecond: 0.001, nodeRequestBurst: 2 },
    },
    { replay: false },
  );
  const appOnly = await startHttpServer({ fetch: relay.relay.app.fetch, host: '127.0.0.1', port: 0 });
  return {
    relay,
    appOnly,
    close: async () => {
      await appOnly.close();
      await relay.close();
    },
  };
}

/**
 * startRateLimitedPair for the enclosing describe block: started before its tests and closed after them. Call it in
 * the block; the returned function gives the pair inside a test.
 */
export function useRateLimitedPair(): () => { relay: TestRelay; appOnly: RunningServer } {
  let pair: Awaited<ReturnType<typeof startRateLimitedPair>> | undefined;
  beforeAll(async () => {
    pair = await startRateLimitedPair();
  });
  afterAll(async () => {
    await pair?.close();
  });
  return () => {
    if (!pair) throw new Error('the rate-limited pair is not started (call useRateLimitedPair in a describe block)');
    return pair;
  };
}
