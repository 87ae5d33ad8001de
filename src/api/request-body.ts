import type { IncomingMessage } from 'node:http';
import { PassThrough, Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Context } from 'hono';

/**
 * A request body as a Node stream. Served by Node (@hono/node-server), that is the socket's own request stream,
 * piped through a PassThrough so that a consumer that gives up (a refused body) never destroys the socket before
 * the answer is written. Going through `c.req.raw.body` instead would build a full web Request and convert the
 * bytes to a web stream and back, which costs more CPU than journaling a small upload. Elsewhere (`app.request`
 * in tests, other runtimes) the web body is converted.
 */
export function requestBody(c: Context): Readable {
  const incoming = nodeRequest(c);
  if (incoming && !c.req.raw.bodyUsed) {
    const body = new PassThrough({ highWaterMark: 1 << 20 });
    // Readers see errors through their own listeners; this one keeps an error on a body nobody reads yet (a
    // client that gives up while its request waits its turn) from becoming an uncaught exception.
    body.on('error', () => {});
    incoming.on('error', (error) => body.destroy(error));
    incoming.on('aborted', () => body.destroy(new Error('the client closed the connection mid-body')));
    return incoming.pipe(body);
  }
  const stream = c.req.raw.body;
  return stream ? Readable.fromWeb(stream as WebReadableStream<Uint8Array>) : Readable.from([]);
}

/** The Node request behind `c`, when served by @hono/node-server. */
export function nodeRequest(c: Context): IncomingMessage | undefined {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  return incoming instanceof Readable ? incoming : undefined;
}

/** `http://<local address>:<port>` of the connection `c` arrived on (Node only): where this client reached us. */
export function localOrigin(c: Context): string | undefined {
  const socket = nodeRequest(c)?.socket;
  if (!socket?.localAddress || !socket.localPort) return undefined;
  const host = socket.localAddress.includes(':') ? `[${socket.localAddress}]` : socket.localAddress;
  return `http://${host}:${socket.localPort}`;
}

/** True when the request behind `c` lost its client (or was cut off) before its body was complete (Node only). */
export function clientGone(c: Context): boolean {
  const incoming = nodeRequest(c);
  return incoming !== undefined && !incoming.complete && (incoming.destroyed || incoming.socket?.destroyed === true);
}
