import type { IncomingMessage, Server } from 'node:http';
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
  /** Warnings: bodies cut off, connections refused (never an error line per client). */
  logger?: Logger;
}

/** The listener's settings from the relay's configuration (`listen`, `limits`). */
export function listenOptions(
  config: {
    listen: { host: string; port: number };
    limits: { bodyIdleTimeoutSeconds: number; maxConnections: number };
  },
  logger: Logger,
): Omit<HttpServerOptions, 'fetch' | 'routes'> {
  return {
    host: config.listen.host,
    port: config.listen.port,
    bodyIdleTimeoutMs: config.limits.bodyIdleTimeoutSeconds * 1000,
    maxConnections: config.limits.maxConnections,
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
  const server = createServer(
    {
      maxHeaderSize: options.maxHeaderBytes ?? 16 * 1024,
      // Upload bodies can take hours; idle sockets are bounded by headersTimeout and keepAliveTimeout instead.
      requestTimeout: 0,
      headersTimeout: 60_000,
      keepAliveTimeout: 65_000,
      // A missing Host is refused by the adapter's error handler, with our JSON error shape.
      requireHostHeader: false,
    },
    (req, res) => {
      watchBodyIdle(req, bodyIdleMs, logger);
      for (const route of routes) if (route(req, res)) return;
      return listener(req, res);
    },
  );
  server.maxConnections = options.maxConnections ?? 1024;
  let lastDropWarning = 0;
  let dropped = 0;
  server.on('drop', () => {
    dropped += 1;
    const now = Date.now();
    if (now - lastDropWarning < 10_000) return; // one line per 10 s, whatever the flood
    lastDropWarning = now;
    logger.warn('connection refused: the relay holds its maximum of connections', {
      maxConnections: server.maxConnections,
      refusedSoFar: dropped,
    });
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || (socket as Socket & { _httpMessage?: unknown })._httpMessage) {
      socket.destroy();
      return;
    }
    const [status, reason, code, message] =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', 'HEADERS_TOO_LARGE', 'the request headers are too large']
        : [400, 'Bad Request', 'MALFORMED_HTTP', 'the request is not valid HTTP/1.1'];
    const body = JSON.stringify({ error: { code, message } });
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
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
function watchBodyIdle(req: IncomingMessage, idleMs: number, logger: Logger): void {
  const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  if (!hasBody || idleMs <= 0) return;
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
    if (!socket.destroyed) socket.setTimeout(0);
  };
  // On the request, not the socket: Node then calls this instead of destroying the socket itself.
  req.setTimeout(idleMs, onTimeout);
  req.once('end', stop);
  req.once('close', stop);
}
