import type { Readable } from 'node:stream';
import { Agent } from 'undici';
import type { ConfigScope } from '../core/entry.js';
import type { NewChange } from '../core/intake.js';
import { BodyChangedError, RelayRefusedError, RelayUnavailableError, UploadUrlRefusedError } from './errors.js';
import { DEFAULT_RETRY, parseRetryAfter, type RetryClock, type RetryPolicy, retryDelay, systemClock } from './retry.js';

/**
 * A change as `POST /v1/changes` takes it (CONTRACT "HTTP API"): absolute normalised paths; `target` for rename;
 * `size` (required) and `sha256` for upload; `modified` (ISO 8601) for mdtm; `user` who made it on the node.
 */
export type ChangeRequest = NewChange;

export interface UploadRequest extends ChangeRequest {
  action: 'upload';
  size: number;
}

export interface UploadTarget {
  method: 'PUT' | 'POST';
  url: string;
  headers: Record<string, string>;
}

export type IgnoredReceipt = { status: 'IGNORED'; reason: string };
export type PendingReceipt = { status: 'PENDING'; id: string };
/** A delete the relay's delete guard journaled HELD: durable, waiting for an operator; nothing more to send. */
export type HeldReceipt = { status: 'HELD'; id: string };
export type ChangeReceipt =
  | { status: 'AWAITING_BODY'; id: string; upload: UploadTarget }
  | PendingReceipt
  | HeldReceipt
  | IgnoredReceipt;
export type UploadReceipt = PendingReceipt | IgnoredReceipt;

/** Bytes of a body. Called once per attempt, so that a retry starts again from the first byte. */
export type BodySource = () => Readable | AsyncIterable<Uint8Array> | Promise<Readable | AsyncIterable<Uint8Array>>;

export interface CallOptions {
  /** Aborts the call, including retries and waits between them; it then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Told when the relay opens a three-step upload and when it is closed (committed, given up, gone). */
export interface UploadTracker {
  opened(id: string): Promise<void>;
  closed(id: string): Promise<void>;
}

export interface RelayClientOptions {
  /** Base URL of the relay API, e.g. `http://127.0.0.1:8787`. */
  relay: string;
  /** A node token (or the admin token). */
  token: string;
  /**
   * Per request: the whole exchange for JSON calls; for a body upload, the longest time without progress (a
   * 10 GiB body may take longer than any fixed limit, a stalled one must not hang forever). Default 30 s.
   */
  timeoutMs?: number;
  /** Retries of one call on network errors, timeouts, 408, 429 and 5xx (Retry-After is honoured). */
  retry?: Partial<RetryPolicy>;
  /** Time for the retry waits (tests inject one that does not sleep). */
  clock?: RetryClock;
  /**
   * Send requests through this fetch instead (a proxy, a test double). By default the client keeps its own
   * keep-alive connections with undici's request API, which costs a fraction of fetch's CPU per request.
   */
  fetch?: typeof globalThis.fetch;
  /**
   * Send bodies up to 4 MiB in one request (`POST /v1/uploads`) when the relay takes it (default true; a relay
   * that refuses it is remembered and the three-step flow used instead).
   */
  singleRequestUploads?: boolean;
}

/** A failure worth another attempt: unreachable, timed out, or a 408, 429 or 5xx answer. */
class TransientError extends Error {
  constructor(
    message: string,
    /** The answer's status; none when there was no answer. */
    readonly status?: number,
    /** What the answer's Retry-After asked for, in milliseconds. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** Answers that say "not now" rather than "not this": the same request may well succeed later. */
const RETRIED_STATUSES = new Set([408, 429]);

type RequestBody = string | Uint8Array | AsyncIterable<Uint8Array>;

interface Outgoing {
  method: string;
  headers: Record<string, string>;
  body?: RequestBody;
  signal: AbortSignal;
}

/** An answer: its status, and its body read as text (which also frees the connection). */
interface Answer {
  status: number;
  /** Where a redirect points. */
  location?: string;
  /** The Retry-After header, as sent. */
  retryAfter?: string;
  text(): Promise<string>;
}

/** Sends one request; rejects on network failure or abort. */
type Transport = (url: URL, request: Outgoing) => Promise<Answer>;

function fetchTransport(fetch: typeof globalThis.fetch): Transport {
  return async (url, { method, headers, body, signal }) => {
    const streamed = body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array);
    const init = { method, headers, body, signal, ...(streamed ? { duplex: 'half' } : {}) };
    const res = await fetch(url, init as RequestInit);
    return {
      status: res.status,
      location: res.headers.get('location') ?? undefined,
      retryAfter: res.headers.get('retry-after') ?? undefined,
      text: () => res.text(),
    };
  };
}

function undiciTransport(agent: Agent): Transport {
  return async (url, { method, headers, body, signal }) => {
    const res = await agent.request({
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: method as 'GET',
      headers,
      // undici sends async iterables as they come (its types only list streams and buffers).
      body: (body ?? null) as string | Uint8Array | null,
      signal,
    });
    const first = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);
    return {
      status: res.statusCode,
      location: first(res.headers.location),
      retryAfter: first(res.headers['retry-after']),
      text: () => res.body.text(),
    };
  };
}

/**
 * An upload starts over with a new change (and upload URL) this many times: after a relay restart the change
 * that was never committed is gone (404); a presigned URL may have expired before its body went (403).
 */
const UPLOAD_ROUNDS = 3;
/** How long giving up an upload may take before the upload is left to expire instead. */
const ABANDON_TIMEOUT_MS = 5_000;
/** Bodies up to this size go in one request (`POST /v1/uploads`); larger ones take the three-step flow. */
const SINGLE_REQUEST_MAX_BYTES = 4 * 1024 * 1024;
const MAX_ERROR_TEXT = 300;

export type { ConfigScope };

/**
 * A typed client for the node endpoints of a vfs-relay. Transient failures (network, timeout, 408, 429, 5xx) are
 * retried with capped exponential backoff and jitter, never sooner than a Retry-After asks, then reported as
 * RelayUnavailableError (nothing is wrong with the request: send it again later). Any other 3xx/4xx answer is
 * never retried and becomes a RelayRefusedError carrying the relay's status, code and message.
 */
export class RelayClient {
  private readonly base: URL;
  private readonly policy: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly clock: RetryClock;
  private readonly transport: Transport;
  /** The client's own connections (absent when a fetch was given). */
  private readonly agent: Agent | undefined;
  /** Whether the relay takes one-request uploads; learned from its first refusal of one. */
  private singleRequest: boolean;

  constructor(private readonly options: RelayClientOptions) {
    this.base = new URL(options.relay.endsWith('/') ? options.relay : `${options.relay}/`);
    this.policy = { ...DEFAULT_RETRY, ...options.retry };
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.clock = options.clock ?? systemClock;
    if (options.fetch) this.transport = fetchTransport(options.fetch);
    else {
      // Timeouts are the client's own (AbortSignals): undici's would cut a slow commit or a long body short.
      this.agent = new Agent({ connections: 16, keepAliveTimeout: 10_000, headersTimeout: 0, bodyTimeout: 0 });
      this.transport = undiciTransport(this.agent);
    }
    this.singleRequest = options.singleRequestUploads ?? true;
  }

  /** Closes the client's connections (calls in progress finish first). */
  async close(): Promise<void> {
    await this.agent?.close();
  }

  /** `POST /v1/changes`. For an upload the caller must then PUT the body and commit (see uploadFile). */
  async submitChange(change: ChangeRequest, options: CallOptions = {}): Promise<ChangeReceipt> {
    const body = JSON.stringify(dropUndefined(change));
    return this.withRetry(`POST /v1/changes ${change.action} ${change.path}`, options.signal, (signal) =>
      this.json<ChangeReceipt>('POST', 'v1/changes', { body, headers: { 'content-type': 'application/json' } }, signal),
    );
  }

  /**
   * Journals an upload end to end: the change, the body streamed to `upload.url`, then the commit. The bearer
   * token goes with the body only when `upload.url` is the relay itself (a presigned URL elsewhere carries its
   * own authorisation, and the token must not leak to it). A commit answered `409 ALREADY_COMMITTED` is a
   * success: an earlier attempt got through and only its answer was lost.
   */
  async uploadFile(
    change: UploadRequest,
    body: BodySource,
    options: CallOptions & { uploads?: UploadTracker } = {},
  ): Promise<UploadReceipt> {
    if (this.singleRequest && change.size <= SINGLE_REQUEST_MAX_BYTES) {
      try {
        return await this.uploadInOne(change, body, options.signal);
      } catch (error) {
        // An older relay (no such route) or one that takes bodies elsewhere (cloud: presigned S3 URLs): three steps
        // from now on. 413 (a proxy in front allowing smaller requests, say): three steps for this upload only.
        if (!(error instanceof RelayRefusedError && [404, 405, 413, 415].includes(error.status))) throw error;
        if (error.status !== 413) this.singleRequest = false;
      }
    }
    for (let round = 1; ; round++) {
      const receipt = await this.submitChange(change, options);
      // Only deletes are ever HELD: an upload is AWAITING_BODY, PENDING or IGNORED.
      if (receipt.status !== 'AWAITING_BODY') return receipt as UploadReceipt;
      try {
        await options.uploads?.opened(receipt.id);
        await this.putBody(receipt.upload, change, body, options.signal);
        const committed = await this.commit(receipt, change, body, options.signal);
        await options.uploads?.closed(receipt.id);
        return committed;
      } catch (error) {
        // 404: the relay restarted and dropped the uncommitted change; 403 from the bucket: the presigned URL
        // expired. A new change starts from scratch, with a fresh URL.
        const gone = error instanceof RelayRefusedError && error.status === 404;
        // Otherwise the change is still there, waiting for a body that is not coming: until it expired (an hour)
        // it would hold back every later change to its path, this upload's next attempt included.
        if (gone || (await this.abandonUpload(receipt.id))) await options.uploads?.closed(receipt.id);
        if ((gone || error instanceof UploadUrlRefusedError) && round < UPLOAD_ROUNDS) continue;
        throw error;
      }
    }
  }

  /**
   * `POST /v1/changes/{id}/abandon`, once and briefly. True once the relay answered: given up, or nothing to give
   * up (404: gone, or a relay without the route; 409: committed after all). False when it did not answer: the
   * upload then expires on the relay, or is given up at the agent's next start.
   */
  async abandonUpload(id: string): Promise<boolean> {
    const path = `v1/changes/${encodeURIComponent(id)}/abandon`;
    try {
      await this.json('POST', path, {}, AbortSignal.timeout(ABANDON_TIMEOUT_MS));
      return true;
    } catch (error) {
      return error instanceof RelayRefusedError && (error.status === 404 || error.status === 409);
    }
  }

  /** `PUT /v1/config/{scope}/{name}`: a configuration document, XML or JSON, at most 1 MiB. */
  async putConfig(
    scope: ConfigScope,
    name: string,
    document: string | Uint8Array,
    contentType: 'application/xml' | 'text/xml' | 'application/json',
    options: CallOptions = {},
  ): Promise<UploadReceipt> {
    const path = configPath(scope, name);
    return this.withRetry(`PUT /${path}`, options.signal, (signal) =>
      this.json<UploadReceipt>('PUT', path, { body: document, headers: { 'content-type': contentType } }, signal),
    );
  }

  /** `DELETE /v1/config/{scope}/{name}`. */
  async deleteConfig(scope: ConfigScope, name: string, options: CallOptions = {}): Promise<UploadReceipt> {
    const path = configPath(scope, name);
    return this.withRetry(`DELETE /${path}`, options.signal, (signal) =>
      this.json<UploadReceipt>('DELETE', path, {}, signal),
    );
  }

  private async commit(
    receipt: { id: string; upload: UploadTarget },
    change: UploadRequest,
    body: BodySource,
    signal: AbortSignal | undefined,
  ): Promise<PendingReceipt> {
    const path = `v1/changes/${encodeURIComponent(receipt.id)}/commit`;
    const once = () =>
      this.withRetry(`POST /${path}`, signal, (s) => this.json<PendingReceipt>('POST', path, {}, s)).catch((error) => {
        if (error instanceof RelayRefusedError && error.code === 'ALREADY_COMMITTED') {
          return { status: 'PENDING' as const, id: receipt.id };
        }
        throw error;
      });
    try {
      return await once();
    } catch (error) {
      // The body never arrived although the PUT was answered (a proxy in between?): send it once more.
      if (!(error instanceof RelayRefusedError && error.code === 'BODY_MISSING')) throw error;
      await this.putBody(receipt.upload, change, body, signal);
      return once();
    }
  }

  /** `POST /v1/uploads`: change and body in one round trip (the relay answers once the change is durable). */
  private async uploadInOne(
    change: UploadRequest,
    body: BodySource,
    signal: AbortSignal | undefined,
  ): Promise<UploadReceipt> {
    const query = new URLSearchParams({ path: change.path, size: String(change.size) });
    for (const key of ['sha256', 'modified', 'user'] as const) {
      const value = change[key];
      if (value !== undefined) query.set(key, value);
    }
    const target: UploadTarget = {
      method: 'POST',
      url: new URL(`v1/uploads?${query}`, this.base).toString(),
      headers: { 'content-type': 'application/octet-stream' },
    };
    return (await this.putBody(target, change, body, signal)) as UploadReceipt;
  }

  /** Streams a body to `target`; returns the answer's JSON. */
  private putBody(
    target: UploadTarget,
    change: UploadRequest,
    body: BodySource,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    const url = new URL(target.url, this.base);
    const headers: Record<string, string> = { ...target.headers };
    // A declared length lets the receiver refuse early, and presigned S3 PUTs require it. Undici then also
    // refuses to send a body of another length: a file that changed under us fails here, not at commit.
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) {
      headers['content-length'] = String(change.size);
    }
    const presigned = url.origin !== this.base.origin;
    if (!presigned) headers.authorization = this.authorization();
    return this.withRetry(`PUT body of ${change.path}`, signal, async (callerSignal) => {
      const source = await body();
      const idle = new IdleTimer(this.timeoutMs);
      const abort = callerSignal ? AbortSignal.any([callerSignal, idle.signal]) : idle.signal;
      try {
        const res = await this.send(
          url,
          { method: target.method, headers, body: idle.meter(source), signal: abort },
          callerSignal,
          `PUT ${url.pathname}`,
        );
        return await this.read(res, `${target.method} ${url.pathname}`, presigned ? 'the bucket' : 'the relay');
      } catch (error) {
        // The bucket, not the relay, refuses: the URL (its signature) is not good any more. The token is fine.
        if (presigned && error instanceof RelayRefusedError && error.status === 403) {
          throw new UploadUrlRefusedError(`the upload URL for ${change.path} was refused (403): expired?`, {
            cause: error,
          });
        }
        throw error;
      } finally {
        idle.stop();
        destroy(source);
      }
    });
  }

  private async json<T>(
    method: string,
    path: string,
    init: { body?: string | Uint8Array; headers?: Record<string, string> },
    callerSignal: AbortSignal | undefined,
  ): Promise<T> {
    const url = new URL(path, this.base);
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = callerSignal ? AbortSignal.any([callerSignal, timeout]) : timeout;
    const what = `${method} ${url.pathname}`;
    const res = await this.send(
      url,
      { method, body: init.body, headers: { ...init.headers, authorization: this.authorization() }, signal },
      callerSignal,
      what,
    );
    return (await this.read(res, what)) as T;
  }

  /** One request, its failures sorted: caller abort as is, changed body, everything else transient. */
  private async send(
    url: URL,
    request: Outgoing,
    callerSignal: AbortSignal | undefined,
    what: string,
  ): Promise<Answer> {
    try {
      return await this.transport(url, request);
    } catch (error) {
      if (callerSignal?.aborted) throw callerSignal.reason;
      throw this.classify(error, what);
    }
  }

  /** The answer's body: JSON on success (or undefined), TransientError on 408/429/5xx, else RelayRefusedError. */
  private async read(res: Answer, what: string, from: 'the relay' | 'the bucket' = 'the relay'): Promise<unknown> {
    let text: string;
    try {
      text = await res.text();
    } catch (error) {
      throw this.classify(error, what);
    }
    // A bucket's answer to a presigned PUT is S3's XML, whose errors may quote the request's signature
    // (SignatureDoesNotMatch): only its <Code> is kept.
    const parsed =
      from === 'the relay'
        ? parseJson(text)
        : { error: { code: s3Code(text), message: 'the bucket refused the body' } };
    if (res.status >= 500 || RETRIED_STATUSES.has(res.status)) {
      const retryAfterMs = parseRetryAfter(res.retryAfter, this.clock.now());
      throw new TransientError(`${what}: ${res.status} ${errorOf(parsed, text).code}`, res.status, retryAfterMs);
    }
    if (res.status >= 400) {
      const { code, message } = errorOf(parsed, text);
      throw new RelayRefusedError(res.status, code, message);
    }
    if (res.status >= 300) {
      // Not followed: a body streamed once cannot be sent again, and the token must not travel elsewhere.
      // Named without its query or user info: a presigned URL's signature is there (and is good for minutes).
      const to = res.location ? ` to ${withoutSecrets(res.location, this.base)}` : '';
      throw new RelayRefusedError(res.status, 'REDIRECT', `${from} answered with a redirect${to}; use the final URL`);
    }
    return parsed;
  }

  private classify(error: unknown, what: string): Error {
    if (error instanceof TransientError || error instanceof BodyChangedError) return error;
    // fetch wraps the network error as `cause`; undici's request API throws it as is.
    const failure = error as { code?: string; message?: string; cause?: { code?: string; message?: string } };
    const code = failure.cause?.code ?? failure.code;
    if (code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH') {
      return new BodyChangedError(`${what}: the body did not have the declared length (the file changed)`);
    }
    const name = (error as Error).name;
    if (name === 'TimeoutError' || name === 'AbortError' || code === 'UND_ERR_ABORTED') {
      return new TransientError(`${what}: no answer within ${this.timeoutMs} ms`);
    }
    return new TransientError(`${what}: ${code ?? failure.cause?.message ?? failure.message}`);
  }

  private async withRetry<T>(
    what: string,
    signal: AbortSignal | undefined,
    attempt: (signal: AbortSignal | undefined) => Promise<T>,
  ): Promise<T> {
    let last: TransientError | undefined;
    for (let n = 1; n <= this.policy.attempts; n++) {
      if (signal?.aborted) throw signal.reason;
      try {
        return await attempt(signal);
      } catch (error) {
        if (!(error instanceof TransientError)) throw error;
        last = error;
        if (n < this.policy.attempts) {
          await this.clock.sleep(retryDelay(n, this.policy, error.retryAfterMs, this.clock.random), signal);
        }
      }
    }
    const attempts = Math.max(1, this.policy.attempts);
    throw new RelayUnavailableError(`${last?.message ?? what} (gave up after ${attempts} attempts)`, attempts, {
      cause: last,
      status: last?.status,
      retryAfterMs: last?.retryAfterMs,
    });
  }

  private authorization(): string {
    return `Bearer ${this.options.token}`;
  }
}

/**
 * Aborts when no chunk of the body has moved for `ms`; after the last chunk, the same allowance covers the wait
 * for the answer (the receiver may be fsyncing a large body).
 */
class IdleTimer {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly ms: number) {
    this.touch();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  meter(source: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
    const touch = () => this.touch();
    return (async function* () {
      for await (const chunk of source) {
        touch();
        yield chunk;
      }
      touch();
    })();
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  private touch(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => this.controller.abort(new DOMException(`no progress for ${this.ms} ms`, 'TimeoutError')),
      this.ms,
    );
  }
}

function configPath(scope: ConfigScope, name: string): string {
  return `v1/config/${encodeURIComponent(scope)}/${encodeURIComponent(name)}`;
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** S3's error code in an XML answer (`<Code>SignatureDoesNotMatch</Code>`), or HTTP_ERROR. */
function s3Code(text: string): string {
  return /<Code>([A-Za-z0-9.]{1,64})<\/Code>/.exec(text)?.[1] ?? 'HTTP_ERROR';
}

/** A URL as it may be shown: origin and path, without user info, query or fragment. */
function withoutSecrets(location: string, base: URL): string {
  try {
    const url = new URL(location, base);
    return `${url.origin}${url.pathname}`;
  } catch {
    return '(an unreadable URL)';
  }
}

function errorOf(parsed: unknown, text: string): { code: string; message: string } {
  const error = (parsed as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  return {
    code: typeof error?.code === 'string' ? error.code : 'HTTP_ERROR',
    message: typeof error?.message === 'string' ? error.message : text.slice(0, MAX_ERROR_TEXT) || 'no details',
  };
}

function destroy(source: Readable | AsyncIterable<Uint8Array>): void {
  const stream = source as Partial<Readable>;
  if (typeof stream.destroy === 'function' && !stream.destroyed) stream.destroy();
}

function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
