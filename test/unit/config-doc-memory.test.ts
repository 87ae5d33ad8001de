import { expect, it } from 'vitest';
import { createApp } from '../../src/api/app.js';
import { type ApiDeps, DEFAULT_LIMITS } from '../../src/api/deps.js';
import { ByteBudget } from '../../src/core/byte-budget.js';
import { silentLogger } from '../../src/core/logger.js';
import { heldBody } from '../support/held-body.js';

const NODE_TOKEN = 'node-token-0123456789abcdef';
const MiB = 1024 * 1024;

it('reserves a configuration document from the shared body memory before reading it (429 when it is full)', async () => {
  const journaled: number[] = [];
  const bodyMemory = new ByteBudget(MiB + 10);
  const deps = {
    tokens: { adminToken: 'admin-token-0123456789abcdef', nodeTokens: { 'node-a': NODE_TOKEN } },
    limits: DEFAULT_LIMITS,
    logger: silentLogger,
    bodyMemory,
    intake: {
      putConfig: async (doc: { body: Uint8Array }) => {
        journaled.push(doc.body.length);
        return { journaled: true, id: 'c1', status: 'PENDING', entries: [] };
      },
    },
  } as unknown as ApiDeps;
  const app = createApp(deps);
  const document = Buffer.from(`{"pad":"${'x'.repeat(MiB - 10)}"}`);
  const put = (body: ReadableStream<Uint8Array> | Buffer) =>
    app.request('/v1/config/users/a.json', {
      method: 'PUT',
      headers: {
        authorization: `Bearer ${NODE_TOKEN}`,
        'content-type': 'application/json',
        'content-length': String(document.length),
      },
      body,
      duplex: 'half',
    } as RequestInit);

  // A document sent slowly: the route has reserved its size once it starts reading.
  const { body: slow, reading, finish } = heldBody(document);
  const first = put(slow);
  await reading;
  expect(bodyMemory.inUse).toBe(document.length);

  const refused = await put(document);
  expect(refused.status).toBe(429);
  expect(refused.headers.get('retry-after')).toBe('1');
  expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('BODY_MEMORY_FULL');

  finish();
  expect((await first).status).toBe(202);
  expect(bodyMemory.inUse).toBe(0);
  expect((await put(document)).status).toBe(202);
  expect(journaled).toEqual([document.length, document.length]);
});
