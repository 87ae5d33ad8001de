import { Duration, Stack } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DIMENSION, METRIC, type MetricSpec } from '../../src/observability/metric-names.js';
import type { FunctionName } from '../paths.js';
import type { RelayFunction } from './relay-function.js';
import { type RelayMetricSource, SERVICE_PERIOD } from './relay-metrics.js';

export interface RelayDashboardProps {
  metrics: RelayMetricSource;
  peers: readonly string[];
  oldestPendingMinutes: number;
  alarms: cloudwatch.IAlarm[];
  functions: Record<FunctionName, RelayFunction>;
  doorbell: sqs.IQueue;
  deadLetters: sqs.IQueue;
  httpApi: apigwv2.HttpApi;
}

/**
 * One CloudWatch dashboard, top to bottom: alarm states; per peer online, pending entries, oldest pending,
 * pending bytes, parked entries, replay outcomes, latency and duration; changes not journaled; verify and resync
 * jobs; the functions,
 * the doorbell queue and the API; the latest parked changes from the logs.
 */
export class RelayDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(
    scope: Construct,
    id: string,
    private readonly props: RelayDashboardProps,
  ) {
    super(scope, id);
    this.dashboard = new cloudwatch.Dashboard(this, 'Resource', {
      dashboardName: `${Stack.of(this).stackName}-relay`,
      defaultInterval: Duration.hours(6),
    });
    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown:
          '# vfs-relay\nPeers, backlog and replay outcomes. Alarms e-mail the SNS topic; the README has a runbook ' +
          'for each. Saved Logs Insights queries: `what-happened-to-path`, `conflicts-by-reason`, ' +
          '`slowest-replays`, `peer-status-changes`.',
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: props.alarms, width: 24, height: 4 }),
    );
    for (const row of [...this.peerRows(), ...this.replayRows(), ...this.jobRows(), ...this.serviceRows()])
      this.dashboard.addWidgets(...row);
    this.dashboard.addWidgets(this.parkedLogWidget());
  }

  /** Health and backlog per peer (gauges the ping publishes). */
  private peerRows(): cloudwatch.IWidget[][] {
    const { metrics, peers } = this.props;
    const perPeer = (spec: MetricSpec) => peers.map((peer) => metrics.peer(spec, peer).with({ label: peer }));
    const labelled = (spec: MetricSpec, label: string) =>
      peers.map((p) => metrics.peer(spec, p).with({ label: `${p} ${label}` }));
    return [
      [
        graph('Peer online (1) / not (0)', perPeer(METRIC.peerOnline), { leftYAxis: { min: 0, max: 1 } }),
        graph('Pending entries', perPeer(METRIC.pendingEntries)),
        graph('Oldest pending (seconds)', perPeer(METRIC.oldestPendingAge), {
          leftAnnotations: [{ value: this.props.oldestPendingMinutes * 60, label: 'alarm' }],
        }),
      ],
      [
        graph('Pending bytes', perPeer(METRIC.pendingBytes)),
        graph('Parked: conflict / failed / blocked', [
          ...labelled(METRIC.conflictEntries, 'conflict'),
          ...labelled(METRIC.failedEntries, 'failed'),
          ...labelled(METRIC.blockedEntries, 'blocked'),
        ]),
        graph('Held by the delete guard', perPeer(METRIC.heldChanges), {
          leftAnnotations: [{ value: 1, label: 'alarm' }],
        }),
      ],
    ];
  }

  /** What replay did, per peer and 5 minutes; what the intake did not journal. */
  private replayRows(): cloudwatch.IWidget[][] {
    const { metrics, peers } = this.props;
    const series = (spec: MetricSpec, statistic: string, label: string) =>
      peers.map((p) => metrics.peer(spec, p, statistic, SERVICE_PERIOD).with({ label: `${p} ${label}` }));
    return [
      [
        graph(
          'Replay outcomes (per 5 min)',
          [
            ...series(METRIC.replayApplied, 'Sum', 'applied'),
            ...series(METRIC.replayConflict, 'Sum', 'conflict'),
            ...series(METRIC.replayOffline, 'Sum', 'offline'),
            ...series(METRIC.replayUnauthorized, 'Sum', 'unauthorized'),
            ...series(METRIC.replayFailed, 'Sum', 'failed'),
          ],
          { stacked: true },
        ),
        graph('Replication latency, journaled → on peer (ms)', [
          ...series(METRIC.replicationLatency, 'p50', 'p50'),
          ...series(METRIC.replicationLatency, 'p99', 'p99'),
        ]),
        graph('Replay duration per attempt (ms)', [
          ...series(METRIC.replayDuration, 'p50', 'p50'),
          ...series(METRIC.replayDuration, 'Maximum', 'max'),
        ]),
      ],
      [
        graph('Changes not journaled: by reason / echoes by node', [
          metrics.search(METRIC.changesIgnored, DIMENSION.reason),
          metrics.search(METRIC.echoesSuppressed, DIMENSION.node),
        ]),
        graph('Uploads expired (body stopped moving), by node', [
          metrics.search(METRIC.uploadsExpired, DIMENSION.node),
        ]),
      ],
    ];
  }

  /** Verify and resync jobs per peer (gauges the ping publishes after running the jobs' slices). */
  private jobRows(): cloudwatch.IWidget[][] {
    const { metrics, peers } = this.props;
    const perPeer = (spec: MetricSpec, label = '') =>
      peers.map((p) => metrics.peer(spec, p).with({ label: label ? `${p} ${label}` : p }));
    return [
      [
        graph('Jobs running / ended FAILED', [
          ...perPeer(METRIC.jobsRunning, 'running'),
          ...perPeer(METRIC.jobsFailed, 'failed'),
        ]),
        graph('Job progress: scanned / differences / writes done', [
          ...perPeer(METRIC.jobItemsScanned, 'scanned'),
          ...perPeer(METRIC.jobDifferences, 'differences'),
          ...perPeer(METRIC.jobWritesDone, 'written'),
        ]),
        graph('Job bytes copied', perPeer(METRIC.jobBytesCopied)),
      ],
    ];
  }

  /** The AWS services underneath: functions, doorbell queue, API. */
  private serviceRows(): cloudwatch.IWidget[][] {
    const { functions, doorbell, deadLetters, httpApi } = this.props;
    const period = SERVICE_PERIOD;
    const perFunction = (title: string, pick: (fn: RelayFunction) => cloudwatch.Metric) =>
      graph(
        title,
        Object.entries(functions).map(([name, fn]) => pick(fn).with({ label: name, period })),
      );
    return [
      [
        perFunction('Function invocations', (fn) => fn.function.metricInvocations({ statistic: 'Sum' })),
        perFunction('Function errors', (fn) => fn.function.metricErrors({ statistic: 'Sum' })),
        perFunction('Function duration p99 (ms)', (fn) => fn.function.metricDuration({ statistic: 'p99' })),
      ],
      [
        graph('Doorbell queue', [
          doorbell.metricApproximateNumberOfMessagesVisible({ label: 'visible', period }),
          doorbell.metricApproximateNumberOfMessagesNotVisible({ label: 'in flight', period }),
          deadLetters.metricApproximateNumberOfMessagesVisible({ label: 'dead letters', period }),
        ]),
        graph('API requests and errors', [
          httpApi.metricCount({ label: 'requests', period }),
          httpApi.metricClientError({ label: '4xx', period }),
          httpApi.metricServerError({ label: '5xx', period }),
        ]),
        graph('API latency p99 (ms)', [
          httpApi.metricLatency({ label: 'latency', statistic: 'p99', period }),
          httpApi.metricIntegrationLatency({ label: 'integration', statistic: 'p99', period }),
        ]),
      ],
    ];
  }

  private parkedLogWidget(): cloudwatch.IWidget {
    return new cloudwatch.LogQueryWidget({
      title: 'Latest changes parked in CONFLICT or FAILED',
      logGroupNames: [this.props.functions.replay.logGroup.logGroupName],
      queryLines: [
        'fields @timestamp, peer, entryId, action, path, status, reason',
        'filter status = "CONFLICT" or status = "FAILED"',
        'sort @timestamp desc',
        'limit 20',
      ],
      width: 24,
      height: 6,
    });
  }
}

function graph(
  title: string,
  left: cloudwatch.IMetric[],
  extra: Partial<cloudwatch.GraphWidgetProps> = {},
): cloudwatch.GraphWidget {
  return new cloudwatch.GraphWidget({ title, left, width: 8, height: 6, ...extra });
}
