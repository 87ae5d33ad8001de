import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/api/errors.js';
import { limitBody } from '../../src/api/limits.js';

/** An app that echoes the size of what it read, behind limitBody(10). */
function app() {
  const a = new Hono();
  a.onError((error, c) =>
    error instanceof ApiError ? c.json({ code: error.code }, error.status) : c.json({ code: 'OTHER' }, 500),
  );
  a.post('/', limitBody(10), async (c) => c.json({ read: (await c.req.arrayBuffer()).byteLength }));
  return a;
}

/** A body of `size` bytes sent as a stream: no Content-Length, read chunk by chunk. */
function chunked(size: number): RequestInit {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let sent = 0; sent < size; sent += 4) controller.enqueue(new Uint8Array(Math.min(4, size - sent)));
      controller.close();
    },
  });
  return { method: 'POST', body, duplex: 'half' } as RequestInit;
}

describe('limitBody', () => {
  it('judges a declared length by the header, and lets a body within it through', async () => {
    const over = await app().request('/', {
      method: 'POST',
      body: 'x'.repeat(11),
      headers: { 'content-length': '11' },
    });
    expect(over.status).toBe(413);
    expect(await over.json()).toEqual({ code: 'PAYLOAD_TOO_LARGE' });
    const within = await app().request('/', {
      method: 'POST',
      body: 'x'.repeat(10),
      headers: { 'content-length': '10' },
    });
    expect(await within.json()).toEqual({ read: 10 });
  });

  it('counts a body without a declared length as it streams', async () => {
    const over = await app().request('/', chunked(11));
    expect(over.status).toBe(413);
    expect(await over.json()).toEqual({ code: 'PAYLOAD_TOO_LARGE' });
    expect(await (await app().request('/', chunked(10))).json()).toEqual({ read: 10 });
  });
});
