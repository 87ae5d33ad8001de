import { bodyLimit } from 'hono/body-limit';
import { createMiddleware } from 'hono/factory';
import { ApiError } from './errors.js';

/**
 * Refuses bodies over `maxBytes` with 413 before they are read (Content-Length) or while they stream. A request
 * that declares its length is judged by the header alone, without touching `c.req.raw.body`: on Node that getter
 * builds a whole web Request around the socket stream (@hono/node-server), which cost more CPU than the rest of a
 * small JSON request. Chunked bodies go through hono's bodyLimit, which counts them as they arrive.
 */
export function limitBody(maxBytes: number) {
  const tooLarge = () => {
    throw new ApiError(413, 'PAYLOAD_TOO_LARGE', `the request body is larger than ${maxBytes} bytes`);
  };
  const streamed = bodyLimit({ maxSize: maxBytes, onError: tooLarge });
  return createMiddleware(async (c, next) => {
    const length = c.req.header('content-length');
    if (length === undefined || c.req.header('transfer-encoding') !== undefined) return streamed(c, next);
    if (Number.parseInt(length, 10) > maxBytes) tooLarge();
    await next();
  });
}
