import { bodyLimit } from 'hono/body-limit';
import { createMiddleware } from 'hono/factory';
import { HTTPException } from 'hono/http-exception';
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

const utf8 = new TextDecoder('utf-8', { fatal: true }); // a leading BOM dropped, as a web Request's text() does
/** The media types the JSON validator takes (@hono/zod-openapi); anything else is left to it (415). */
const JSON_TYPE = /^application\/([a-z-.]+\+)?json(;\s*[a-zA-Z0-9-]+=([^;]+))*$/i;

/** JSON that is not valid UTF-8 is malformed; the web Request's text() would put U+FFFD in place of each bad byte. */
export function malformedUtf8Json(): HTTPException {
  return new HTTPException(400, { message: 'Malformed JSON in request body: it is not valid UTF-8' });
}

/** Decodes a JSON body's bytes, refusing invalid UTF-8 (malformedUtf8Json). */
export function decodeJsonText(bytes: Uint8Array | ArrayBuffer): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw malformedUtf8Json();
  }
}

/**
 * Reads a JSON request body as strict UTF-8 and hands the text to the route's validator (hono's request keeps it),
 * so a body with bytes that are not UTF-8 is 400 MALFORMED_JSON instead of being decoded lossily. Runs after
 * limitBody, which bounds what is read.
 */
export function strictJsonText() {
  return createMiddleware(async (c, next) => {
    const type = c.req.header('content-type');
    if (type !== undefined && JSON_TYPE.test(type)) {
      const text = decodeJsonText(await c.req.arrayBuffer());
      // hono keeps each body read as a promise (its type says otherwise); json() then parses this text.
      (c.req.bodyCache as Record<string, unknown>).text = Promise.resolve(text);
    }
    await next();
  });
}
