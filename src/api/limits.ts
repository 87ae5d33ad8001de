import { bodyLimit } from 'hono/body-limit';
import { ApiError } from './errors.js';

/** Refuses bodies over `maxBytes` with 413 before they are read (Content-Length) or while they stream. */
export function limitBody(maxBytes: number) {
  return bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new ApiError(413, 'PAYLOAD_TOO_LARGE', `the request body is larger than ${maxBytes} bytes`);
    },
  });
}
