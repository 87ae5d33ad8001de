import { Agent, createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** How the proxy answers a request it does not pass on. */
export type Throttle =
  | { status: 429 | 503; retryAfter: 'seconds' | 'date' | 'none' }
  | { status: 408; retryAfter: 'none' };

export interface ThrottlingProxyOptions {
  /** Every `every`-th request (counting from the first) is answered by the proxy itself. Default 3. */
  every?: number;
  /** The answers it gives, in turn. Default: 429 + Retry-After seconds, 503 + an HTTP date, 503 bare, 408. */
  throttles?: Throttle[];
  /** Seconds a Retry-After asks for (default 1, the smallest whole number HTTP allows besides 0). */
  retryAfterSeconds?: number;
}

const DEFAULT_THROTTLES: Throttle[] = [
  { status: 429, retryAfter: 'seconds' },
  { status: 503, retryAfter: 'date' },
  { status: 503, retryAfter: 'none' },
  { status: 408, retryAfter: 'none' },
];

/**
 * An HTTP proxy on loopback in front of a relay that answers a fixed share of the requests itself, as an API
 * gateway that throttles or a relay that is overloaded would (429/503 with or without Retry-After, 408), and
 * passes the others on unchanged (bodies streamed both ways, the Host header kept so that the relay's upload URLs
 * point back at the proxy). Deterministic: request n is refused when n % every === every - 1.
 */
export class ThrottlingProxy {
  /** Requests seen, as "METHOD path STATUS" (the status the client got). */
  readonly log: string[] = [];
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly upstreamAgent = new Agent({ keepAlive: true });
  private seen = 0;
  private refusedCount = 0;
  port = 0;

  constructor(
    private readonly upstream: string,
    private readonly options: ThrottlingProxyOptions = {},
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Requests answered by the proxy itself so far. */
  get refused(): number {
    return this.refusedCount;
  }

  /** Answers the proxy gave itself, by status. */
  refusals(status: number): number {
    return this.log.filter((line) => line.endsWith(` ${status} (proxy)`)).length;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.upstreamAgent.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const n = this.seen++;
    const every = this.options.every ?? 3;
    const what = `${req.method} ${req.url?.split('?')[0]}`;
    if (n % every === every - 1) {
      this.throttle(req, res, what);
      return;
    }
    const target = new URL(req.url ?? '/', this.upstream);
    const forward = request(
      target,
      { method: req.method, headers: req.headers, agent: this.upstreamAgent },
      (answer) => {
        this.log.push(`${what} ${answer.statusCode}`);
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.on('error', () => forward.destroy());
    res.on('close', () => {
      if (!res.writableFinished) forward.destroy();
    });
    req.pipe(forward);
  }

  private throttle(req: IncomingMessage, res: ServerResponse, what: string): void {
    const throttles = this.options.throttles ?? DEFAULT_THROTTLES;
    const throttle = throttles[this.refusedCount++ % throttles.length]!;
    const seconds = this.options.retryAfterSeconds ?? 1;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (throttle.retryAfter === 'seconds') headers['retry-after'] = String(seconds);
    // An HTTP date has whole seconds: one second more, so that the wait is never shorter than `seconds`.
    if (throttle.retryAfter === 'date')
      headers['retry-after'] = new Date(Date.now() + (seconds + 1) * 1000).toUTCString();
    const code = throttle.status === 429 ? 'RATE_LIMITED' : throttle.status === 408 ? 'REQUEST_TIMEOUT' : 'UNAVAILABLE';
    this.log.push(`${what} ${throttle.status} (proxy)`);
    // The body is not wanted, but it is read to its end first so that the client surely gets the answer.
    req.resume();
    req.once('end', () => {
      res.writeHead(throttle.status, headers);
      res.end(JSON.stringify({ error: { code, message: `the proxy refused this request (${throttle.status})` } }));
    });
  }
}
