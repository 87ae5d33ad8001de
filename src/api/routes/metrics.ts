import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { type AuthEnv, requireRole, type TokenTable, tokenResolver } from '../auth.js';
import { type ApiCall, OperatorReads, type PeerReading } from '../operator-reads.js';
import { errors } from '../schemas.js';

/** Renders the Prometheus exposition from the peers' figures (the runtime supplies it: prom-client is Node-only). */
export type MetricsRenderer = (peers: readonly PeerReading[]) => Promise<{ contentType: string; body: string }>;

const metrics = createRoute({
  method: 'get',
  path: '/',
  tags: ['operator'],
  summary: 'Prometheus metrics (text exposition format)',
  security: [{ bearer: [] }],
  responses: {
    200: {
      description: 'vfs_relay_* series per peer, and the process metrics',
      content: { 'text/plain': { schema: z.string() } },
    },
    ...errors,
  },
});

/**
 * `GET /metrics` (admin token). The backlog gauges come from `GET /v1/peers`, read in-process with the scraper's
 * own token: the figures Prometheus stores are the ones the API and the console show.
 */
export function metricsRoutes(deps: { tokens: TokenTable; api: ApiCall; render: MetricsRenderer }) {
  const app = new OpenAPIHono<AuthEnv>();
  app.use('*', requireRole(tokenResolver(deps.tokens), 'operator'));
  app.openapi(metrics, async (c) => {
    const peers = await new OperatorReads(deps.api, c.req.header('authorization')!).peers();
    const { contentType, body } = await deps.render(peers);
    return c.text(body, 200, { 'content-type': contentType, 'cache-control': 'no-store' });
  });
  return app;
}
