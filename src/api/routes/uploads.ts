import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { releaseStream } from '../../core/bytes.js';
import { PayloadTooLargeError } from '../../core/errors.js';
import { type AuthEnv, callerNode, requireRole, tokenResolver } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { webRequestBodies } from '../request-body.js';
import { AcceptedSchema, errors, IgnoredSchema, NewChangeSchema, queryInteger } from '../schemas.js';
import { validationHook } from '../validation.js';

/** The query of `POST /v1/uploads` (also checked by the Node server's own route: runtime/node-upload-route.ts). */
export const UploadQuery = NewChangeSchema.pick({ path: true, sha256: true, modified: true, user: true }).extend({
  size: queryInteger(Number.MAX_SAFE_INTEGER).openapi({ type: 'integer', description: 'the body length in bytes' }),
});

const upload = createRoute({
  method: 'post',
  path: '/',
  tags: ['node'],
  summary: 'Upload in one request: the change in the query, the raw body as the request body',
  description:
    'Same as POST /v1/changes + PUT body + commit, in one round trip (embedded relay). Answers only once the ' +
    'change is durable; a refused or incomplete body leaves nothing in the journal.',
  security: [{ bearer: [] }],
  request: {
    query: UploadQuery,
    body: { content: { 'application/octet-stream': { schema: z.string().openapi({ format: 'binary' }) } } },
  },
  responses: {
    201: { description: 'Journaled (PENDING)', content: { 'application/json': { schema: AcceptedSchema } } },
    200: { description: 'Nothing journaled', content: { 'application/json': { schema: IgnoredSchema } } },
    ...errors,
  },
});

export function uploadRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono<AuthEnv>({ defaultHook: validationHook });
  app.use('*', requireRole(tokenResolver(deps.tokens), 'node', deps.rateLimiter));

  app.openapi(upload, async (c) => {
    const query = c.req.valid('query');
    if (query.size > deps.limits.maxUploadBytes) {
      throw new PayloadTooLargeError(`uploads are limited to ${deps.limits.maxUploadBytes} bytes`);
    }
    const body = (deps.requestBodies ?? webRequestBodies).body(c);
    const result = await deps.intake.uploadInOne({ action: 'upload', ...query }, body, callerNode(c.get('caller')));
    if (!result.journaled) {
      releaseStream(body); // not read: the connection closes after the answer
      c.header('connection', 'close');
      return c.json({ status: 'IGNORED' as const, reason: result.reason }, 200);
    }
    return c.json({ id: result.id, status: 'PENDING' as const }, 201);
  });

  return app;
}
