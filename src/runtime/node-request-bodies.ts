import type { IncomingMessage } from 'node:http';
import { PassThrough, Readable } from 'node:stream';
import type { Context } from 'hono';
import { type RequestBodies, webRequestBodies } from '../api/request-body.js';
import type { ByteStream } from '../core/bytes.js';

/**
 * Request bodies as the Node server has them (@hono/node-server puts the request in `c.env.incoming`): the
 * socket's own request stream, piped through a PassThrough so that a consumer that gives up (a refused body) never
 * destroys the socket before the answer is written. Going through `c.req.raw.body` instead would build a full web
 * Request and convert the bytes to a web stream, which costs more CPU than journaling a small upload. A context
 * without a Node request (`app.request` in tests) is read the web way.
 */
export const nodeRequestBodies: RequestBodies = {
  body(c) {
    const incoming = nodeRequest(c);
    if (!incoming || c.req.raw.bodyUsed) return webRequestBodies.body(c);
    return requestBody(incoming);
  },
  localOrigin(c) {
    const socket = nodeRequest(c)?.socket;
    if (!socket?.localAddress || !socket.localPort) return undefined;
    const host = socket.localAddress.includes(':') ? `[${socket.localAddress}]` : socket.localAddress;
    return `http://${host}:${socket.localPort}`;
  },
  clientGone(c) {
    const incoming = nodeRequest(c);
    return incoming !== undefined && !incoming.complete && (incoming.destroyed || incoming.socket?.destroyed === true);
  },
  bodyUnread(c) {
    const incoming = nodeRequest(c);
    return incoming ? !incoming.complete : webRequestBodies.bodyUnread(c);
  },
};

/** The body of a Node request as the relay reads it (see nodeRequestBodies). */
export function requestBody(incoming: IncomingMessage): ByteStream {
  const body = new PassThrough({ highWaterMark: 1 << 20 });
  // Readers see errors through their own listeners; this one keeps an error on a body nobody reads yet (a client
  // that gives up while its request waits its turn) from becoming an uncaught exception.
  body.on('error', () => {});
  incoming.on('error', (error) => body.destroy(error));
  incoming.on('aborted', () => body.destroy(new Error('the client closed the connection mid-body')));
  return incoming.pipe(body);
}

function nodeRequest(c: Context): IncomingMessage | undefined {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  return incoming instanceof Readable ? incoming : undefined;
}
