import { Agent, createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { seeded } from '../bench/stats.js';

/** What the proxy can do to one request. */
export const FAULT_KINDS = [
  'http500',
  'http502',
  'http503',
  'http429',
  /** Half of the request body reaches the server, then both connections are reset. */
  'reset-mid-body',
  /** The server applies the request; its answer is held until the client gives up (its request timeout). */
  'stall',
  /** The server applies the request; the connection to the client is then dropped without an answer. */
  'drop-answer',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

const WEIGHTS: Record<FaultKind, number> = {
  http500: 1,
  http502: 1,
  http503: 1,
  http429: 1,
  'reset-mid-body': 1.5,
  stall: 1,
  'drop-answer': 1.5,
};

export interface FaultProxyOptions {
  /** The real server behind the proxy (loopback). */
  upstreamPort: number;
  /** Seeds the schedule: request n (in order of arrival) gets the n-th draw. */
  seed: number;
  /** Share of requests that get a fault (default 0.25). */
  rate?: number;
  /** `Retry-After` (seconds) sent with every 429 and every second 503 (default 1). */
  retryAfterSeconds?: number;
  /**
   * At most this many faults in a row for one request (method, path, destination), then it goes through (default
   * 2): what the suite measures is recovery, not the relay's cap on changes that keep failing (tested on its own).
   */
  maxFaultsInARow?: number;
  /** The first N MOVE and the first N DELETE requests are applied and their answers dropped (default 3). */
  dropFirst?: number;
  /**
   * Request numbers (1-based, every request counted) at which the proxy holds the request — alternately before
   * forwarding it and after the server applied it — until `release()`: the moments a test kills the client.
   */
  holdAt?: readonly number[];
}

export interface Fault {
  kind: FaultKind;
  method: string;
  path: string;
}

export interface Hold {
  ordinal: number;
  method: string;
  path: string;
  /** The server applied the held request (held after forwarding). */
  applied: boolean;
}

/**
 * An HTTP proxy on loopback between a client (the relay) and a WebDAV server (Apache) that injects the faults of
 * a real network and a real peer along a seeded schedule: 5xx, 429 + Retry-After, a connection reset half-way
 * through a request body, an answer stalled past the client's timeout, and an answer lost after the server
 * applied the request. Headers pass unchanged (the Host and MOVE Destination name the proxy, consistently).
 */
export class FaultProxy {
  readonly faults: Fault[] = [];
  readonly holds: Hold[] = [];
  requests = 0;
  port = 0;
  private server: Server | undefined;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 32 });
  private readonly random: () => number;
  private readonly rate: number;
  private readonly retryAfter: string;
  private readonly maxInARow: number;
  private readonly dropFirst: number;
  private readonly holdAt: Set<number>;
  private readonly inARow = new Map<string, number>();
  private readonly dropped = new Map<string, number>();
  private readonly sockets = new Set<Socket>();
  private held: { release: () => void } | undefined;
  private holdWaiters: ((hold: Hold) => void)[] = [];
  private served503 = 0;

  constructor(private readonly options: FaultProxyOptions) {
    this.random = seeded(options.seed);
    this.rate = options.rate ?? 0.25;
    this.retryAfter = String(options.retryAfterSeconds ?? 1);
    this.maxInARow = options.maxFaultsInARow ?? 2;
    this.dropFirst = options.dropFirst ?? 3;
    this.holdAt = new Set(options.holdAt ?? []);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  /** A request is held now (until `release()`). */
  get holding(): boolean {
    return this.held !== undefined;
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

  /** Resolves once a request is held (at once if one is). */
  waitForHold(): Promise<Hold> {
    if (this.held) return Promise.resolve(this.holds.at(-1)!);
    return new Promise((resolve) => this.holdWaiters.push(resolve));
  }

  /** Lets go of the held request: its connection is closed, and it never reaches the server if it had not. */
  release(): void {
    const held = this.held;
    this.held = undefined;
    held?.release();
  }

  /** Faults injected so far, by kind. */
  counts(): Record<FaultKind, number> {
    const counts = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
    for (const f of this.faults) counts[f.kind] += 1;
    return counts;
  }

  async close(): Promise<void> {
    this.release();
    for (const socket of this.sockets) socket.destroy();
    this.agent.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const ordinal = ++this.requests;
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    if (this.holdAt.has(ordinal)) {
      this.hold(req, res, { ordinal, method, path, applied: this.holds.length % 2 === 1 });
      return;
    }
    const kind = this.decide(method, `${method} ${path} ${req.headers.destination ?? ''}`);
    if (kind) this.faults.push({ kind, method, path });
    if (kind === undefined) this.forward(req, res, 'answer');
    else if (kind === 'http500' || kind === 'http502') this.answer(req, res, kind === 'http500' ? 500 : 502);
    else if (kind === 'http503') this.answer(req, res, 503, this.served503++ % 2 === 1 ? this.retryAfter : undefined);
    else if (kind === 'http429') this.answer(req, res, 429, this.retryAfter);
    else if (kind === 'reset-mid-body') this.resetMidBody(req);
    else this.forward(req, res, kind === 'stall' ? 'stall' : 'drop');
  }

  private decide(method: string, key: string): FaultKind | undefined {
    const draw = this.random(); // one draw per request, whatever happens: the schedule stays seeded
    const pick = this.random();
    const streak = this.inARow.get(key) ?? 0;
    if (streak >= this.maxInARow) {
      this.inARow.delete(key);
      return undefined;
    }
    let kind: FaultKind | undefined;
    if ((method === 'MOVE' || method === 'DELETE') && (this.dropped.get(method) ?? 0) < this.dropFirst) {
      this.dropped.set(method, (this.dropped.get(method) ?? 0) + 1);
      kind = 'drop-answer';
    } else if (draw < this.rate) {
      kind = weighted(pick);
    }
    if (kind) this.inARow.set(key, streak + 1);
    else this.inARow.delete(key);
    return kind;
  }

  /** Reads the request, then answers `status` without asking the server. */
  private answer(req: IncomingMessage, res: ServerResponse, status: number, retryAfter?: string): void {
    req.resume();
    req.on('end', () => {
      const headers: Record<string, string> = { 'content-type': 'text/plain' };
      if (retryAfter !== undefined) headers['retry-after'] = retryAfter;
      res.writeHead(status, headers).end(`injected ${status}\n`);
    });
  }

  /**
   * Sends the request on. `answer`: the answer comes back as it is. `stall`: the server's answer is read (the
   * request is applied) and the client gets nothing until it gives up. `drop`: the same, then the connection to
   * the client is closed. `hold`: as stall, and the test is told.
   */
  private forward(req: IncomingMessage, res: ServerResponse, mode: 'answer' | 'stall' | 'drop', applied?: () => void) {
    const up = request({
      host: '127.0.0.1',
      port: this.options.upstreamPort,
      method: req.method,
      path: req.url,
      headers: hopByHopRemoved(req.headers),
      agent: this.agent,
    });
    up.on('error', () => req.socket.destroy());
    // The client went away (its timeout, a kill): whatever is still on its way to the server is cut off.
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    up.on('response', (answer) => {
      if (mode === 'answer') {
        res.writeHead(answer.statusCode ?? 502, hopByHopRemoved(answer.headers));
        answer.pipe(res);
        return;
      }
      answer.resume();
      answer.on('end', () => {
        if (mode === 'drop') req.socket.destroy();
        applied?.();
      });
    });
    req.pipe(up);
  }

  /** Half the body goes to the server, then both connections are reset (no body: reset at once). */
  private resetMidBody(req: IncomingMessage): void {
    const length = Number(req.headers['content-length'] ?? 0);
    if (!(length > 1)) {
      req.socket.destroy();
      return;
    }
    const half = Math.floor(length / 2);
    const up = request({
      host: '127.0.0.1',
      port: this.options.upstreamPort,
      method: req.method,
      path: req.url,
      headers: hopByHopRemoved(req.headers),
      agent: false,
    });
    up.on('error', () => {});
    up.flushHeaders();
    let sent = 0;
    req.on('data', (chunk: Buffer) => {
      if (sent >= half) return;
      const part = chunk.subarray(0, half - sent);
      sent += part.length;
      up.write(part);
      if (sent >= half) {
        // Give the half a moment to reach the server, then cut both sides.
        setTimeout(() => {
          up.destroy();
          req.socket.destroy();
        }, 20).unref();
      }
    });
  }

  private hold(req: IncomingMessage, res: ServerResponse, hold: Hold): void {
    const announce = () => {
      this.holds.push(hold);
      this.held = { release: () => req.socket.destroy() };
      for (const waiter of this.holdWaiters.splice(0)) waiter(hold);
    };
    if (hold.applied) {
      this.forward(req, res, 'stall', announce);
    } else {
      req.pause(); // never forwarded
      announce();
    }
  }
}

function weighted(pick: number): FaultKind {
  const total = FAULT_KINDS.reduce((sum, k) => sum + WEIGHTS[k], 0);
  let at = pick * total;
  for (const kind of FAULT_KINDS) {
    at -= WEIGHTS[kind];
    if (at < 0) return kind;
  }
  return FAULT_KINDS.at(-1)!;
}

/** Connection-level headers belong to each hop, not to the message. */
function hopByHopRemoved(headers: IncomingMessage['headers']): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade'].includes(name)) continue;
    out[name] = value;
  }
  return out;
}
