import type { Context } from 'hono';
import type { ByteStream } from '../core/bytes.js';

/**
 * How the server the app runs in hands over request bodies and facts about the connection. The default reads the
 * web Request (workerd, Deno, Bun, Lambda, `app.request` in tests); the Node server passes its own
 * (runtime/node-request-bodies.ts), which streams straight from the socket.
 */
export interface RequestBodies {
  /** The body, streamed. Leaving it unread or half read must not cut the answer off. */
  body(c: Context): ByteStream;
  /** `http://<local address>:<port>` of the connection `c` arrived on (where this client reached us), if known. */
  localOrigin(c: Context): string | undefined;
  /** True when the client went away (or was cut off) before its body was complete. */
  clientGone(c: Context): boolean;
  /** True while part of the request's body has not been read. */
  bodyUnread(c: Context): boolean;
}

const noBytes: ByteStream = {
  async *[Symbol.asyncIterator]() {},
};

export const webRequestBodies: RequestBodies = {
  body: (c) => c.req.raw.body ?? noBytes,
  localOrigin: () => undefined,
  clientGone: () => false,
  bodyUnread: (c) => c.req.raw.body !== null && !c.req.raw.bodyUsed,
};
