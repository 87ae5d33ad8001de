import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { escapeLogText } from '../core/log-escape.js';
import { type Logger, silentLogger } from '../core/logger.js';
import type { NodeRoute } from './node-upload-route.js';

export interface HttpServerOptions {
  fetch: (request: Request) => Response | Promise<Response>;
  /** Routes answered from Node's request before the web app sees it (see node-upload-route.ts). */
  routes?: readonly NodeRoute[];
  host: string;
  port: number;
  /** Largest request head (request line + headers), in bytes. */
  maxHeaderBytes?: number;
  /** A request body that sends no byte for this long is cut off (default 60 s). */
  bodyIdleTimeoutMs?: number;
  /** Connections held at once; more are closed as they arrive (default 1024). */
  maxConnections?: number;
  /**
   * Connections one client address holds at once (an IPv6 client: its /64), within maxConnections; more from it are
   * closed as they arrive. Default: maxConnections / 4 (at least 1) when the server listens on an address others
   * reach; none on a loopback address, where every client is local (an agent, or a proxy in front of the relay).
   */
  maxConnectionsPerAddress?: number;
  /** A client that has not sent a whole request head this long after connecting is cut off (408). */
  headersTimeoutMs?: number;
  /**
   * Clients that may take the RESERVED_CONNECTIONS kept beyond maxConnections (an operator on the relay's own
   * machine while its connections are taken). Default: loopback clients, when the server listens on an address
   * others reach (on a loopback address every client is local, and nothing is kept).
   */
  reserved?: (address: string) => boolean;
  /** Warnings: bodies cut off, connections refused (never an error line per client). */
  logger?: Logger;
}

/** The listener's settings from the relay's configuration (`listen`, `limits`). */
export function listenOptions(
  config: {
    listen: { host: string; port: number };
    limits: {
      bodyIdleTimeoutSeconds: number;
      maxConnections: number;
      maxConnectionsPerAddress?: number | undefined;
      headersTimeoutSeconds: number;
    };
  },
  logger: Logger,
): Omit<HttpServerOptions, 'fetch' | 'routes'> {
  return {
    host: config.listen.host,
    port: config.listen.port,
    bodyIdleTimeoutMs: config.limits.bodyIdleTimeoutSeconds * 1000,
    maxConnections: config.limits.maxConnections,
    ...(config.limits.maxConnectionsPerAddress !== undefined && {
      maxConnectionsPerAddress: config.limits.maxConnectionsPerAddress,
    }),
    headersTimeoutMs: config.limits.headersTimeoutSeconds * 1000,
    logger,
  };
}

export interface RunningServer {
  server: Server;
  url: string;
  /**
   * Serves `next` from now on (requests already being answered finish as they began): a relay listens with a
   * stand-in while it loads its journal, then switches to its API.
   */
  serve(next: Pick<HttpServerOptions, 'fetch' | 'routes'>): void;
  /** Stops accepting, lets in-flight requests finish (up to `graceMs`), then closes every connection. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Serves the Hono app on Node. Requests the HTTP parser itself refuses (oversized or malformed heads) get the
 * same JSON error shape as everything else instead of Node's bare status line.
 */
export async function startHttpServer(options: HttpServerOptions): Promise<RunningServer> {
  const listenerOf = (fetch: HttpServerOptions['fetch']) =>
    getRequestListener(fetch, {
      // Requests the adapter cannot turn into a web Request (bad Host, backslash in the path, ...).
      errorHandler: () => jsonError(400, 'MALFORMED_HTTP', 'the request is not valid HTTP/1.1'),
    });
  let listener = listenerOf(options.fetch);
  const logger = options.logger ?? silentLogger;
  const bodyIdleMs = options.bodyIdleTimeoutMs ?? 60_000;
  let routes = options.routes ?? [];
  const headersTimeoutMs = options.headersTimeoutMs ?? 20_000;
  const server = createServer(
    {
      maxHeaderSize: options.maxHeaderBytes ?? 16 * 1024,
      // Upload bodies can take hours; idle sockets are bounded by headersTimeout and keepAliveTimeout instead.
      requestTimeout: 0,
      headersTimeout: headersTimeoutMs,
      // How often Node looks for heads that are late (its default, 30 s, would let them stay up to that much longer).
      connectionsCheckingInterval: Math.max(250, Math.min(5_000, headersTimeoutMs / 4)),
      keepAliveTimeout: 65_000,
      // A missing Host is refused by the adapter's error handler, with our JSON error shape.
      requireHostHeader: false,
    },
    (req, res) => {
      // A body coded any way but plain chunked: Node's parser fails on it only after the request has been handed
      // over (the route would have run, its client never answered). Refused before anything runs.
      const coding = req.headers['transfer-encoding'];
      if (coding !== undefined && coding.trim().toLowerCase() !== 'chunked') {
        return refuse(res, 400, 'MALFORMED_HTTP', 'the request body is coded in a way this server does not take');
      }
      watchBodyIdle(req, res, bodyIdleMs, logger);
      // Answered before its body was all read (a route that takes none, a refusal): the answer says
      // `Connection: close`, and Node closes the connection once it is out, instead of reading on a body that may
      // trickle for good and keep a place among maxConnections. (Closing a connection whose answer promised to keep
      // it would race the client's next request on it.)
      if (hasBody(req)) closeIfUnread(req, res);
      for (const route of routes) if (route(req, res)) return;
      return listener(req, res);
    },
  );
  const maxConnections = options.maxConnections ?? 1024;
  const local = isLoopback(options.host);
  const gate = new ConnectionGate({
    maxConnections,
    perAddress:
      options.maxConnectionsPerAddress ?? (local ? maxConnections : Math.max(1, Math.floor(maxConnections / 4))),
    reserved: options.reserved ?? (local ? () => false : isLoopback),
    logger,
  });
  // Node refuses what is beyond even the reserve before a socket is made; the gate decides the rest.
  server.maxConnections = maxConnections + RESERVED_CONNECTIONS;
  server.on('drop', () => gate.refused('total'));
  server.on('connection', (socket: Socket) => gate.admit(socket));
  // Node answers these itself (417 with no body; nothing at all to CONNECT): the contract's error shape instead.
  server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) =>
    refuse(res, 417, 'EXPECTATION_FAILED', 'only "Expect: 100-continue" is understood'),
  );
  server.on('connect', (_req: IncomingMessage, socket: Socket) =>
    refuseOnSocket(socket, 400, 'Bad Request', 'BAD_REQUEST', 'CONNECT is not served here'),
  );
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    const pending = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
    // The head was taken, the body's framing broke (a chunk size that is no number): answered, not dropped. Not a
    // client gone mid-body (HPE_INVALID_EOF_STATE): the route answers that one, and logs it as such.
    const framing = error.code?.startsWith('HPE_') === true && error.code !== 'HPE_INVALID_EOF_STATE';
    // Only the request whose body broke: with a request pipelined behind it, the error is the next one's, and the
    // pending answer belongs to one that was read whole (and is being handled).
    const own = pending?.req !== undefined && !pending.req.complete;
    if (pending && own && socket.writable && !pending.headersSent && framing) {
      refuse(pending, 400, 'MALFORMED_HTTP', 'the request body is not valid HTTP/1.1 framing');
      return;
    }
    if (!socket.writable || pending) {
      socket.destroy();
      return;
    }
    const [status, reason, code, message] =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', 'HEADERS_TOO_LARGE', 'the request headers are too large']
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'Request Timeout', 'REQUEST_TIMEOUT', 'the request head did not arrive in time']
          : [400, 'Bad Request', 'MALFORMED_HTTP', 'the request is not valid HTTP/1.1'];
    refuseOnSocket(socket, status, reason, code, message);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    server,
    url: `http://${host}:${address.port}`,
    serve: (next) => {
      listener = listenerOf(next.fetch);
      routes = next.routes ?? [];
    },
    close: (graceMs = 10_000) => closeGracefully(server, graceMs),
  };
}

/** Connections kept beyond maxConnections for clients `reserved` admits (an operator on the relay's machine). */
export const RESERVED_CONNECTIONS = 16;

/**
 * Who may hold a connection: at most maxConnections in all (RESERVED_CONNECTIONS more for reserved clients), and
 * at most perAddress from one client address, so that one client (with or without a token: nothing is read yet)
 * cannot take every connection and lock out the nodes and the operator. Refused connections are closed at once,
 * before a byte is read; a warning line per 10 s tells how many.
 */
class ConnectionGate {
  private open = 0;
  private readonly byAddress = new Map<string, number>();
  private lastWarning = 0;
  private readonly refusedSoFar = { total: 0, address: 0 };

  constructor(
    private readonly options: {
      maxConnections: number;
      perAddress: number;
      reserved: (address: string) => boolean;
      logger: Logger;
    },
  ) {}

  admit(socket: Socket): void {
    const address = socket.remoteAddress ?? '';
    const key = addressKey(address);
    const held = this.byAddress.get(key) ?? 0;
    if (held >= this.options.perAddress) {
      this.refuse(socket, 'address', key);
      return;
    }
    if (this.open >= this.options.maxConnections && !this.options.reserved(address)) {
      this.refuse(socket, 'total', key);
      return;
    }
    this.open += 1;
    this.byAddress.set(key, held + 1);
    socket.once('close', () => {
      this.open -= 1;
      const left = (this.byAddress.get(key) ?? 1) - 1;
      if (left > 0) this.byAddress.set(key, left);
      else this.byAddress.delete(key);
    });
  }

  refused(why: 'total' | 'address', address?: string): void {
    this.refusedSoFar[why] += 1;
    const now = Date.now();
    if (now - this.lastWarning < 10_000) return; // one line per 10 s, whatever the flood
    this.lastWarning = now;
    if (why === 'total') {
      this.options.logger.warn('connection refused: the relay holds its maximum of connections', {
        maxConnections: this.options.maxConnections,
        refusedSoFar: this.refusedSoFar.total,
      });
    } else {
      this.options.logger.warn('connection refused: this client address holds its maximum of connections', {
        address,
        maxConnectionsPerAddress: this.options.perAddress,
        refusedSoFar: this.refusedSoFar.address,
      });
    }
  }

  private refuse(socket: Socket, why: 'total' | 'address', key: string): void {
    socket.destroy();
    this.refused(why, key);
  }
}

/** The client an address counts for: an IPv4 address (mapped ones too) as it is, an IPv6 address by its /64. */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':')) return address;
  const [head = '', tail = ''] = address.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = address.includes('::')
    ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** 127.0.0.0/8, ::1 and their IPv4-mapped forms; `localhost` as a listen host. */
export function isLoopback(address: string): boolean {
  const plain = address.replace(/^::ffff:/i, '');
  return plain === 'localhost' || plain === '::1' || /^127\.\d+\.\d+\.\d+$/.test(plain);
}

function jsonError(status: number, code: string, message: string): Response {
  return new Response(JSON.stringify({ error: { code, message } }), {
    status,
    headers: { 'content-type': 'application/json', connection: 'close' },
  });
}

async function closeGracefully(server: Server, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), graceMs);
  timer.unref();
  await closed;
  clearTimeout(timer);
}

/**
 * Cuts off a request whose body stops arriving: `idleMs` without a byte while the relay is ready to read it. When
 * the relay itself does not read (the body waits for its change's lock, or the disk pushes back), the client is not
 * idle and the wait goes on. Node's own socket timeout would count both alike, and requestTimeout would cut off
 * uploads that take hours.
 */
function watchBodyIdle(req: IncomingMessage, res: ServerResponse, idleMs: number, logger: Logger): void {
  if (!hasBody(req) || idleMs <= 0) return;
  const socket = req.socket;
  const onTimeout = () => {
    if (req.complete || req.destroyed) return;
    if (req.readableFlowing !== true) {
      socket.setTimeout(idleMs); // the relay is the slow side: wait on
      return;
    }
    logger.warn('request body idle: closing the connection', {
      method: req.method,
      path: escapeLogText((req.url ?? '').split('?')[0]!),
      idleSeconds: idleMs / 1000,
    });
    socket.destroy();
  };
  const stop = () => {
    req.off('timeout', onTimeout);
    // Once the answer is out, the socket's timeout is Node's keep-alive timeout: left alone, or an idle connection
    // whose body ended after the answer would stay open for good.
    if (!socket.destroyed && !res.writableFinished) socket.setTimeout(0);
  };
  // On the request, not the socket: Node then calls this instead of destroying the socket itself.
  req.setTimeout(idleMs, onTimeout);
  req.once('end', stop);
  req.once('close', stop);
}

function hasBody(req: IncomingMessage): boolean {
  return Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
}

/** Marks the answer `Connection: close` when it goes out before the request's body was all read. */
function closeIfUnread(req: IncomingMessage, res: ServerResponse): void {
  const writeHead = res.writeHead;
  res.writeHead = function (this: ServerResponse, ...args: Parameters<ServerResponse['writeHead']>) {
    if (!req.complete && !this.headersSent) this.setHeader('connection', 'close');
    return writeHead.apply(this, args);
  } as ServerResponse['writeHead'];
}

/** An error in the contract's shape written on a socket with no response object (a head Node could not parse). */
function refuseOnSocket(socket: Socket, status: number, reason: string, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  // end() closes only our half: a client that never closes its own would keep the connection (and its place among
  // maxConnections) for good. Gone once the answer is written.
  socket.destroySoon();
}

/** Answers with the contract's error shape and closes the connection (what follows on it cannot be trusted). */
function refuse(res: ServerResponse, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    connection: 'close',
  });
  res.end(body, () => res.socket?.destroySoon());
}
