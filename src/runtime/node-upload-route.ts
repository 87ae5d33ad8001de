import type { IncomingMessage, ServerResponse } from 'node:http';
import { getQueryParams } from 'hono/utils/url';
import { logRequestFailure } from '../api/app.js';
import { bearerToken, type Caller, callerNode, tokenResolver } from '../api/auth.js';
import type { ApiDeps } from '../api/deps.js';
import { errorAnswer } from '../api/errors.js';
import type { RateLimiter } from '../api/rate-limit.js';
import { UploadQuery } from '../api/routes/uploads.js';
import { releaseStream } from '../core/bytes.js';
import { clientGone, requestBody } from './node-request-bodies.js';

/** Answers the request and returns true, or returns false and leaves the request untouched for the web app. */
export type NodeRoute = (req: IncomingMessage, res: ServerResponse) => boolean;

const UPLOADS = '/v1/uploads';
/**
 * Hosts and request targets whose query the app's validator reads exactly as it came: a lower case name or IPv4
 * address with an optional port of 4–5 digits up to 59999, and a query of unreserved characters, sub-delimiters
 * and percent escapes. @hono/node-server takes such a target as it is, or — with a percent escape or a dot
 * segment — through the URL parser, which leaves such a query as it is but refuses some of these hosts (an
 * IPv4-like name with a part over 255, a bad punycode label): the app then answers 400 MALFORMED_HTTP, and so the
 * route checks the host the same way (see plainHost). Anything else goes to the app.
 */
const PLAIN_HOST = /^[a-z0-9._-]+(?::(?:[1-5]\d{3,4}|[6-9]\d{3}))?$/;
export const PLAIN_QUERY = /^[A-Za-z0-9!$%&()*+,\-./:;=?@_~]*$/;

/**
 * `POST /v1/uploads`, the route every small file takes, answered straight from Node's request: no web Request, no
 * Hono context, router or validator middleware (together ~0.035 ms of main-thread CPU per upload, measured apart
 * from the rest; docs/benchmarks.md). It runs the steps of the app's route (api/routes/uploads.ts)
 * with the same parts — the query schema, the token check and rate limit, the intake, the error answers and their
 * log lines — and answers only a request that passed the checks every refusal comes from: a request the app would
 * refuse before reading its body (no or bad token, a bad query, over the size limit, rate limited, an unusual URL
 * or Host) is handed to the app untouched, and refused there exactly as before. test/integration/node-upload-route
 * compares both answers request by request.
 */
export function nodeUploadRoute(deps: ApiDeps): NodeRoute {
  const resolve = tokenResolver(deps.tokens);
  return (req, res) => {
    if (req.method !== 'POST') return false;
    const url = req.url ?? '';
    if (!url.startsWith(UPLOADS) || (url.length > UPLOADS.length && url[UPLOADS.length] !== '?')) {
      return false;
    }
    const host = req.headers.host;
    if (host === undefined || !PLAIN_QUERY.test(url.slice(UPLOADS.length)) || !plainHost(host)) return false;
    // The query as the app's validator reads it (hono/validator): repeated names become arrays (refused by the
    // schema), and every name is an own key, `__proto__` too (refused as unknown).
    const all = getQueryParams(`http://${host}${url}`) as Record<string, string[]>;
    const values = Object.fromEntries(Object.entries(all).map(([name, v]) => [name, v.length === 1 ? v[0]! : v]));
    const parsed = UploadQuery.safeParse(values);
    if (!parsed.success || parsed.data.size > deps.limits.maxUploadBytes) return false;
    const caller = takeCaller(req, resolve, deps.rateLimiter);
    if (!caller) return false;
    answer(deps, req, res, 'POST', UPLOADS, () => upload(deps, req, parsed.data, callerNode(caller)));
    return true;
  };
}

async function upload(
  deps: ApiDeps,
  req: IncomingMessage,
  query: ReturnType<typeof UploadQuery.parse>,
  node: string | undefined,
): Promise<Answer> {
  const body = requestBody(req);
  const result = await deps.intake.uploadInOne({ action: 'upload', ...query }, body, node);
  if (!result.journaled) {
    releaseStream(body); // not read: the connection closes after the answer
    return { status: 200, value: { status: 'IGNORED', reason: result.reason }, close: true };
  }
  return { status: 201, value: { id: result.id, status: 'PENDING' } };
}

/** What a Node route answers: JSON `value` with `status`; `close`: the connection closes after it. */
export interface Answer {
  status: number;
  value: unknown;
  close?: boolean;
}

/**
 * Answers a request a Node route took with what `run` gives, or, when it throws, with the app's error answer and
 * log line for that error (errorAnswer). `url`: the request's (its path goes into log lines, never the query).
 */
export function answer(
  deps: ApiDeps,
  req: IncomingMessage,
  res: ServerResponse,
  method: string,
  url: string,
  run: () => Promise<Answer>,
): void {
  const path = url.split('?', 1)[0]!;
  run()
    .then(
      ({ status, value, close }) => json(res, status, value, close === true),
      (error: unknown) => {
        const failed = errorAnswer(error, (e) => logRequestFailure(deps.logger, method, path, e, clientGone(req)));
        // A refused request whose body was not read: close rather than make the client wait for a drain.
        json(res, failed.status, failed.body, !req.complete, failed.headers);
      },
    )
    .catch((error: unknown) => {
      // Not an answer that failed (those are answered above): the answer itself could not be written.
      logRequestFailure(deps.logger, method, path, error, clientGone(req));
      res.destroy();
    });
}

export function json(
  res: ServerResponse,
  status: number,
  value: unknown,
  close: boolean,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(value);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(text);
}

/**
 * The caller of a request a Node route may take: one Authorization header with a known token, and for a node's
 * token one request taken from its rate limit. Undefined: the app's request (nothing was taken; past the limit, the
 * app takes again, finds the bucket as empty and answers 429).
 */
export function takeCaller(
  req: IncomingMessage,
  resolve: (token: string) => Caller | undefined,
  limiter: RateLimiter | undefined,
): Caller | undefined {
  const token = bearerToken(singleHeader(req, 'authorization'));
  const caller = token === undefined ? undefined : resolve(token);
  if (!caller) return undefined;
  if (caller.role === 'node' && limiter) {
    try {
      limiter.take(caller.node);
    } catch {
      return undefined;
    }
  }
  return caller;
}

/** Hosts the URL parser accepted lately (the few names a relay is reached by). */
const parsedHosts = new Set<string>();

/** A host the app takes as this route does: see PLAIN_HOST. */
export function plainHost(host: string): boolean {
  if (parsedHosts.has(host)) return true;
  if (!PLAIN_HOST.test(host) || !URL.canParse(`http://${host}/`)) return false;
  if (parsedHosts.size >= 16) parsedHosts.clear();
  parsedHosts.add(host);
  return true;
}

/** A header sent exactly once (undefined when missing or repeated: the app then reads the joined values). */
export function singleHeader(req: IncomingMessage, name: string): string | undefined {
  const raw = req.rawHeaders;
  let found: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const key = raw[i]!;
    if (key.length !== name.length || key.toLowerCase() !== name) continue;
    if (found !== undefined) return undefined;
    found = raw[i + 1]!;
  }
  return found?.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '');
}
