import { OpenAPIHono, z } from '@hono/zod-openapi';
import type { ApiDeps } from './deps.js';
import { errorBody, toErrorResponse } from './errors.js';
import { webRequestBodies } from './request-body.js';
import { changeRoutes } from './routes/changes.js';
import { configDocRoutes } from './routes/config-docs.js';
import { holdRoutes } from './routes/holds.js';
import { jobRoutes, peerJobRoutes } from './routes/jobs.js';
import { peerRoutes } from './routes/peers.js';
import { uploadRoutes } from './routes/uploads.js';

export const API_VERSION = '1.0.0';

/**
 * The relay's HTTP API (CONTRACT.md). Web-standard Request/Response only: the same app runs on Node
 * (@hono/node-server), in Lambda (hono/aws-lambda), at the edge (functions/edge.ts) and in tests (`app.request`).
 */
export function createApp(deps: ApiDeps) {
  const app = new OpenAPIHono();
  const bodies = deps.requestBodies ?? webRequestBodies;

  // /healthz: ready to take changes; /livez: the process answers (also while the embedded relay starts).
  app.get('/healthz', (c) => {
    // Fail-stop: the journal refuses every change until a restart. A load balancer should send nodes elsewhere,
    // and an operator see why, not `ok` beside 500s.
    const failure = deps.journalFailure?.();
    if (failure === undefined) return c.json({ status: 'ok' });
    return c.json({ status: 'failed', error: { code: 'JOURNAL_FAILED', message: failure } }, 503);
  });
  app.get('/livez', (c) => c.json({ status: 'alive' }));
  app.route('/v1/changes', changeRoutes(deps));
  app.route('/v1/config', configDocRoutes(deps));
  if (deps.oneRequestUploads !== false) app.route('/v1/uploads', uploadRoutes(deps));
  app.route('/v1/peers', peerRoutes(deps));
  app.route('/v1/peers', peerJobRoutes(deps));
  app.route('/v1/jobs', jobRoutes(deps));
  app.route('/v1/holds', holdRoutes(deps));

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
  // Plain routes above, described here: the description covers every endpoint of the contract.
  const status = (value: string) => ({
    'application/json': { schema: z.object({ status: z.literal(value) }).openapi({ example: { status: value } }) },
  });
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/healthz',
    summary: 'Ready to take changes (no token)',
    responses: {
      200: { description: 'the relay takes changes', content: status('ok') },
      503: { description: 'the journal failed: every change is refused until a restart (JOURNAL_FAILED)' },
    },
  });
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/livez',
    summary: 'The process answers (no token), also while the relay starts',
    responses: { 200: { description: 'alive', content: status('alive') } },
  });
  app.doc('/openapi.json', {
    openapi: '3.0.3',
    info: {
      title: 'vfs-relay',
      version: API_VERSION,
      description: 'Journaled replication relay: nodes post changes, the relay replays them to WebDAV peers.',
    },
  });

  app.notFound((c) =>
    c.json(errorBody('NOT_FOUND', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`), 404),
  );
  app.onError((error, c) =>
    toErrorResponse(error, c, bodies, (e) =>
      logRequestFailure(deps.logger, c.req.method, new URL(c.req.url).pathname, e, bodies.clientGone(c)),
    ),
  );
  return app;
}

/** A request that failed in a way its answer does not explain (an answer of 500), as the log shows it. */
export function logRequestFailure(
  logger: ApiDeps['logger'],
  method: string,
  path: string,
  error: unknown,
  clientGone: boolean,
): void {
  const fields = { method, path, error };
  // A client that drops mid-body (or was cut off idle) is the client's business: one warning, not an error.
  if (clientGone) logger.warn('client went away mid-request', fields);
  else logger.error('request failed', fields);
}

export type RelayApp = ReturnType<typeof createApp>;
