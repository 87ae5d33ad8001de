import type { Readable } from 'node:stream';
import { type Dispatcher, Pool } from 'undici';
import { PeerUrls, slashedDestination, slashRedirect } from './paths.js';

export interface DavClientOptions {
  url: string;
  username?: string;
  password?: string;
  /** Keep-alive connections (bounded pool). */
  connections?: number;
  /** Per-request timeout for headers and for each body chunk, in ms. */
  timeoutMs?: number;
}

export interface DavRequest {
  headers?: Record<string, string>;
  body?: Readable | string | null;
  signal?: AbortSignal;
}

export interface DavText {
  status: number;
  headers: Dispatcher.ResponseData['headers'];
  text: string;
}

/** The answer's body is larger than the caller allows (a listing of an enormous folder). */
export class DavAnswerTooLargeError extends Error {
  readonly code = 'DAV_ANSWER_TOO_LARGE';
  constructor(message: string) {
    super(message);
    this.name = 'DavAnswerTooLargeError';
  }
}

/**
 * A WebDAV server as convergence jobs use it — read folder by folder, copy from, write to — with its own bounded
 * connection pool, so that a job never takes the replayer's connections. Paths are replicated paths
 * (`/user_homes/a.txt`), mapped onto the server's base URL by PeerUrls.
 */
export class DavClient {
  readonly urls: PeerUrls;
  private readonly pool: Pool;
  private readonly authorization: string | undefined;

  constructor(options: DavClientOptions) {
    this.urls = new PeerUrls(options.url);
    const timeout = options.timeoutMs ?? 60_000;
    this.pool = new Pool(this.urls.origin, {
      connections: options.connections ?? 8,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: timeout,
      bodyTimeout: timeout,
      connectTimeout: Math.min(timeout, 10_000),
    });
    this.authorization =
      options.username !== undefined
        ? `Basic ${Buffer.from(`${options.username}:${options.password ?? ''}`).toString('base64')}`
        : undefined;
  }

  /**
   * Sends a request; the caller reads or dumps the body. A request without a streamed body that a server redirects
   * to the folder's URL with a trailing slash (Apache's mod_dir) is sent there again (see slashRedirect).
   */
  async request(method: string, requestPath: string, request: DavRequest = {}): Promise<Dispatcher.ResponseData> {
    const headers = request.headers ?? {};
    const res = await this.pool.request({
      method,
      path: requestPath,
      headers: this.authorization ? { ...headers, authorization: this.authorization } : headers,
      body: request.body ?? null,
      signal: request.signal,
    });
    if (request.body != null && typeof request.body !== 'string') return res; // a body is sent once
    // A GET redirected to a folder's URL asked for a file that is a folder now: followed, it would read the
    // server's HTML listing of the folder (mod_autoindex) as the file's contents.
    if (method === 'GET' || method === 'HEAD') return res;
    const slashed = slashRedirect(requestPath, res.statusCode, res.headers.location);
    if (slashed === undefined) return res;
    await res.body.dump();
    return this.request(method, slashed, { ...request, headers: slashedDestination(headers) });
  }

  /** Sends a request and reads the answer as text, refusing more than `maxBytes`. */
  async text(method: string, requestPath: string, request: DavRequest = {}, maxBytes = 4096): Promise<DavText> {
    const res = await this.request(method, requestPath, request);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > maxBytes) {
        res.body.destroy();
        throw new DavAnswerTooLargeError(`${method} ${requestPath}: the answer is larger than ${maxBytes} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
    return { status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/** One header value as a string (undici gives arrays for repeated headers). */
export function header(headers: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
