import { createRoute, OpenAPIHono } from '@hono/zod-openapi';
import { LimitExceededError } from '../../core/errors.js';
import { type AuthEnv, callerNode, requireRole, tokenResolver } from '../auth.js';
import { checkConfigDocument } from '../config-document.js';
import type { ApiDeps } from '../deps.js';
import { ApiError } from '../errors.js';
import { limitBody } from '../limits.js';
import { AcceptedSchema, ConfigParams, errors, IgnoredSchema } from '../schemas.js';
import { validationHook } from '../validation.js';

// Plain OpenAPI schemas, not zod: the document is opaque bytes checked by checkDocument(), so that malformed
// JSON is a refused document (422), not a malformed request, and text/xml is accepted too.
const documentBody = {
  content: {
    'application/xml': { schema: { type: 'string' as const } },
    'text/xml': { schema: { type: 'string' as const } },
    'application/json': { schema: { type: 'object' as const } },
  },
};

const put = createRoute({
  method: 'put',
  path: '/{scope}/{name}',
  tags: ['node'],
  summary: 'Replicate a configuration document (XML or JSON, at most 1 MiB)',
  security: [{ bearer: [] }],
  request: { params: ConfigParams, body: documentBody },
  responses: {
    202: { description: 'Journaled', content: { 'application/json': { schema: AcceptedSchema } } },
    200: { description: 'Nothing journaled', content: { 'application/json': { schema: IgnoredSchema } } },
    ...errors,
  },
});

const remove = createRoute({
  method: 'delete',
  path: '/{scope}/{name}',
  tags: ['node'],
  summary: 'Replicate the deletion of a configuration document',
  security: [{ bearer: [] }],
  request: { params: ConfigParams },
  responses: {
    202: { description: 'Journaled', content: { 'application/json': { schema: AcceptedSchema } } },
    200: { description: 'Nothing journaled', content: { 'application/json': { schema: IgnoredSchema } } },
    ...errors,
  },
});

/**
 * Reads a document whole, its size reserved first from the memory all bodies held whole share: many documents sent
 * slowly at once cannot hold more than that, nor one node more than its share (429 BODY_MEMORY_FULL, retry
 * shortly); uploads leave a part of it to documents (ByteBudget). The reservation is the declared
 * length, or the most a document may be; it is given back once the document is read (or the read fails).
 */
async function readWithin(
  deps: ApiDeps,
  declared: string | undefined,
  node: string | undefined,
  read: () => Promise<ArrayBuffer>,
): Promise<Uint8Array> {
  const length = declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : Number.NaN;
  const reserved = Number.isSafeInteger(length)
    ? Math.min(length, deps.limits.maxConfigBytes)
    : deps.limits.maxConfigBytes;
  if (deps.bodyMemory && !deps.bodyMemory.tryReserve(reserved, { owner: node })) {
    throw new LimitExceededError(
      'BODY_MEMORY_FULL',
      'the relay holds as many request bodies in memory as it may; send the document again shortly',
      1,
    );
  }
  try {
    return new Uint8Array(await read());
  } finally {
    deps.bodyMemory?.release(reserved, node);
  }
}

export function configDocRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono<AuthEnv>({ defaultHook: validationHook });
  app.use('*', requireRole(tokenResolver(deps.tokens), 'node', deps.rateLimiter));
  app.put('*', limitBody(deps.limits.maxConfigBytes));

  app.openapi(put, async (c) => {
    const { scope, name } = c.req.valid('param');
    const contentType = documentType(c.req.header('content-type'));
    const node = callerNode(c.get('caller'));
    const body = await readWithin(deps, c.req.header('content-length'), node, () => c.req.arrayBuffer());
    checkConfigDocument(body, contentType);
    const result = await deps.intake.putConfig({ scope, name, body, contentType }, node);
    if (!result.journaled) return c.json({ status: 'IGNORED' as const, reason: result.reason }, 200);
    return c.json({ id: result.id, status: 'PENDING' as const }, 202);
  });

  app.openapi(remove, async (c) => {
    const { scope, name } = c.req.valid('param');
    const result = await deps.intake.deleteConfig(scope, name, callerNode(c.get('caller')));
    if (!result.journaled) return c.json({ status: 'IGNORED' as const, reason: result.reason }, 200);
    return c.json({ id: result.id, status: 'PENDING' as const }, 202);
  });

  return app;
}

function documentType(header: string | undefined): 'application/xml' | 'application/json' {
  const essence = header?.split(';')[0]?.trim().toLowerCase();
  if (essence === 'application/json') return 'application/json';
  if (essence === 'application/xml' || essence === 'text/xml') return 'application/xml';
  throw new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', 'a configuration document is application/xml or application/json');
}
