import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { ThroughputSeries } from '../../core/throughput.js';
import type { TokenTable } from '../auth.js';
import { type AuthEnv, requireRole, tokenResolver } from '../auth.js';
import { errors } from '../schemas.js';

export const ThroughputSchema = z
  .object({
    intervalSeconds: z.number().openapi({ description: 'length of one bucket', example: 5 }),
    from: z.string().openapi({ description: 'start of the first bucket; the last ends where the open one begins' }),
    peers: z.array(
      z.object({
        peer: z.string(),
        changes: z.array(z.number()).openapi({ description: 'changes applied on the peer, per bucket, oldest first' }),
        bytes: z.array(z.number()).openapi({ description: 'body bytes applied on the peer, per bucket' }),
      }),
    ),
  })
  .openapi('Throughput');

const throughput = createRoute({
  method: 'get',
  path: '/throughput',
  tags: ['operator'],
  summary: 'Changes and bytes applied per peer over the last minutes (this process, since it started)',
  security: [{ bearer: [] }],
  responses: {
    200: { description: 'Per-peer buckets', content: { 'application/json': { schema: ThroughputSchema } } },
    ...errors,
  },
});

/** `GET /v1/stats/throughput`: what the console's chart draws, for scripts too. */
export function throughputRoutes(deps: { tokens: TokenTable; series: () => ThroughputSeries }) {
  const app = new OpenAPIHono<AuthEnv>();
  app.use('*', requireRole(tokenResolver(deps.tokens), 'operator'));
  app.openapi(throughput, (c) => c.json(deps.series(), 200));
  return app;
}
