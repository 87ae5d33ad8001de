import { OpenAPIHono } from '@hono/zod-openapi';
import type { ThroughputSeries } from '../core/throughput.js';
import type { TokenTable } from './auth.js';
import { consolePageRoutes, consoleRoutes } from './console/routes.js';
import type { ApiCall } from './operator-reads.js';
import { type MetricsRenderer, metricsRoutes } from './routes/metrics.js';
import { throughputRoutes } from './routes/throughput.js';

export interface OperatorSurfaceDeps {
  tokens: TokenTable;
  /** The relay's own API (`app.request`): the console and /metrics read through it with the caller's token. */
  api: ApiCall;
  /** Feeds `GET /v1/stats/throughput` and the console's chart; without it neither exists. */
  throughput?: () => ThroughputSeries;
  /** Without it there is no `GET /metrics`. */
  metrics?: MetricsRenderer;
  now?: () => Date;
}

/**
 * The operator's pages beside the API: the web console at `/`, `/metrics` and `/v1/stats/throughput`. Web-standard
 * like the API itself; what needs Node (prom-client, the replayer's counts) is handed in by the runtime, which
 * mounts the result on the app: `app.route('/', operatorSurfaces(deps))`.
 */
export function operatorSurfaces(deps: OperatorSurfaceDeps) {
  const app = new OpenAPIHono();
  app.route('/', consolePageRoutes());
  app.route('/console', consoleRoutes(deps));
  if (deps.throughput) app.route('/v1/stats', throughputRoutes({ tokens: deps.tokens, series: deps.throughput }));
  if (deps.metrics) app.route('/metrics', metricsRoutes({ tokens: deps.tokens, api: deps.api, render: deps.metrics }));
  return app;
}
