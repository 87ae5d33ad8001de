import { createRoute, OpenAPIHono, type z } from '@hono/zod-openapi';
import { NotFoundError } from '../../core/errors.js';
import { type AuthEnv, requireRole, tokenResolver } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { DiscardedSchema, errors, NodeQuery, ReleasedSchema } from '../schemas.js';
import { validationHook } from '../validation.js';

const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

const release = createRoute({
  method: 'post',
  path: '/release',
  tags: ['operator'],
  summary: 'Release every change the delete guard holds (of one node): HELD → PENDING, replayed as usual',
  security: [{ bearer: [] }],
  request: { query: NodeQuery },
  responses: { 200: json(ReleasedSchema, 'How many changes were released'), ...errors },
});

const discard = createRoute({
  method: 'post',
  path: '/discard',
  tags: ['operator'],
  summary: 'Discard every change the delete guard holds (of one node): purged, the peers keep what they have',
  security: [{ bearer: [] }],
  request: { query: NodeQuery },
  responses: { 200: json(DiscardedSchema, 'How many changes were discarded'), ...errors },
});

/** `/v1/holds`: the delete guard's bulk actions (CONTRACT "Delete guard"; one change: /v1/changes/{id}). */
export function holdRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono<AuthEnv>({ defaultHook: validationHook });
  app.use('*', requireRole(tokenResolver(deps.tokens), 'operator', deps.rateLimiter));

  const held = () => {
    if (!deps.held) throw new NotFoundError('NOT_FOUND', 'this relay has no delete guard');
    return deps.held;
  };

  app.openapi(release, async (c) => {
    const { node } = c.req.valid('query');
    return c.json({ released: await held().release(node) }, 200);
  });

  app.openapi(discard, async (c) => {
    const { node } = c.req.valid('query');
    return c.json({ discarded: await held().discard(node) }, 200);
  });

  return app;
}
