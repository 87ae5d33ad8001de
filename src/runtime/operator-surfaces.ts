import type { RelayApp } from '../api/app.js';
import type { TokenTable } from '../api/auth.js';
import { operatorSurfaces } from '../api/operator-surfaces.js';
import type { ReplayReport } from '../core/replayer.js';
import { ThroughputMeter } from '../core/throughput.js';
import { PrometheusExporter } from '../observability/prometheus.js';

/**
 * The Node side of the operator surfaces: counts what this process replays (Prometheus counters, the throughput
 * ring) and mounts the console, `/metrics` and `/v1/stats/throughput` on the relay's app. Used by `serve` (both
 * modes) and `demo`; the Lambda API has none of them.
 */
export class OperatorSurfaces {
  readonly throughput: ThroughputMeter;
  readonly prometheus: PrometheusExporter;

  constructor(
    peers: readonly string[],
    options: { now?: () => number; processMetrics?: boolean; journalFailure?: () => string | undefined } = {},
  ) {
    this.throughput = new ThroughputMeter(peers, { now: options.now });
    this.prometheus = new PrometheusExporter(peers, options);
  }

  /** Feed it every replay report. */
  record(report: ReplayReport): void {
    this.prometheus.record(report);
    if (report.outcome.kind === 'applied') this.throughput.record(report.entry.peer, report.entry.size ?? 0);
  }

  /** Feed it every upload the expiry drops. */
  uploadExpired(change: { node: string | undefined }): void {
    this.prometheus.uploadExpired(change.node);
  }

  /** Adds the routes to `app` (before it serves its first request). */
  mount(app: RelayApp, tokens: TokenTable): void {
    app.route(
      '/',
      operatorSurfaces({
        tokens,
        api: (path, init) => app.request(path, init),
        throughput: () => this.throughput.series(),
        metrics: async (peers) => ({
          contentType: this.prometheus.contentType,
          body: await this.prometheus.render(peers),
        }),
      }),
    );
  }
}
