import { Duration, Stack } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRIC } from '../../src/observability/metric-names.js';
import { PING_DUE_FRACTION } from '../../src/runtime/cloud/sweep.js';
import type { FunctionName } from '../paths.js';
import { RelayDashboard } from './relay-dashboard.js';
import type { RelayFunction } from './relay-function.js';
import { RelayMetricSource, SERVICE_PERIOD } from './relay-metrics.js';

export interface RelayObservabilityProps {
  peers: readonly string[];
  serviceName: string;
  metricsNamespace: string;
  /** How often the ping runs (and so publishes PeerOnline and the backlog gauges). */
  pingRateMinutes: number;
  /** Each peer's own pingIntervalSeconds, when longer than the ping's rate (it is probed only that often). */
  peerPingSeconds?: Readonly<Record<string, number>>;
  alarms: { offlinePings: number; oldestPendingMinutes: number };
  alarmEmail?: string;
  functions: Record<FunctionName, RelayFunction>;
  doorbell: sqs.IQueue;
  deadLetters: sqs.IQueue;
  httpApi: apigwv2.HttpApi;
}

/**
 * What an operator looks at: alarms to an SNS topic (e-mail), saved Logs Insights queries, and a dashboard of the
 * relay's metrics (src/observability/metric-names.ts). The runbook for each alarm is in the README.
 */
export class RelayObservability extends Construct {
  readonly topic: sns.Topic;
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly queries: logs.QueryDefinition[] = [];

  readonly metrics: RelayMetricSource;

  private readonly props: RelayObservabilityProps;

  constructor(scope: Construct, id: string, props: RelayObservabilityProps) {
    super(scope, id);
    this.props = props;
    this.metrics = new RelayMetricSource({
      namespace: props.metricsNamespace,
      serviceName: props.serviceName,
      period: Duration.minutes(props.pingRateMinutes),
    });

    this.topic = new sns.Topic(this, 'AlarmTopic', { displayName: 'vfs-relay alarms', enforceSSL: true });
    if (props.alarmEmail) this.topic.addSubscription(new EmailSubscription(props.alarmEmail));

    this.createAlarms();
    this.createQueries();
    this.dashboard = new RelayDashboard(this, 'Dashboard', {
      metrics: this.metrics,
      peers: props.peers,
      oldestPendingMinutes: props.alarms.oldestPendingMinutes,
      alarms: this.alarms,
      functions: props.functions,
      doorbell: props.doorbell,
      deadLetters: props.deadLetters,
      httpApi: props.httpApi,
    }).dashboard;
  }

  private alarm(id: string, name: string, props: cloudwatch.AlarmProps): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(this, id, {
      ...props,
      alarmName: `${Stack.of(this).stackName}-${name}`,
    });
    alarm.addAlarmAction(new SnsAction(this.topic));
    alarm.addOkAction(new SnsAction(this.topic));
    this.alarms.push(alarm);
    return alarm;
  }

  /**
   * Ping periods that span `offlinePings` failed probes of `peer` in a row. The ping publishes every peer's status
   * each run, but probes a peer with a longer pingIntervalSeconds only every few runs (when PING_DUE_FRACTION of
   * its interval has passed): one failed probe of it reads OFFLINE for that many periods, and an alarm over `offlinePings`
   * periods fired on it. CloudWatch takes at most a day of periods.
   */
  private offlinePeriods(peer: string): number {
    const rate = this.props.pingRateMinutes * 60;
    const interval = this.props.peerPingSeconds?.[peer] ?? rate;
    const runsPerProbe = Math.max(1, Math.ceil((PING_DUE_FRACTION * interval) / rate));
    const periods = (this.props.alarms.offlinePings - 1) * runsPerProbe + 1;
    return Math.max(1, Math.min(periods, Math.floor(86_400 / rate)));
  }

  private createAlarms(): void {
    const { alarms, peers } = this.props;
    for (const peer of peers) {
      const offlinePeriods = this.offlinePeriods(peer);
      this.alarm(`PeerOffline${peer}`, `${peer}-offline`, {
        alarmDescription:
          `Peer ${peer} has not been ONLINE for ${alarms.offlinePings} pings in a row (OFFLINE or UNAUTHORIZED, ` +
          'or no ping result at all). Changes for it wait in the journal. Runbook: README, "Peer offline".',
        metric: this.metrics.peer(METRIC.peerOnline, peer),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: offlinePeriods,
        datapointsToAlarm: offlinePeriods,
        // No PeerOnline at all means no ping got through: nothing says the peer is online.
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      });
      this.alarm(`OldestPending${peer}`, `${peer}-oldest-pending`, {
        alarmDescription:
          `The oldest change waiting for peer ${peer} is older than ${alarms.oldestPendingMinutes} minutes. ` +
          'Runbook: README, "Oldest pending too old".',
        metric: this.metrics.peer(METRIC.oldestPendingAge, peer),
        threshold: alarms.oldestPendingMinutes * 60,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        // A gauge published by every ping: a late ping keeps the last state rather than flapping to OK.
        treatMissingData: cloudwatch.TreatMissingData.IGNORE,
      });
      this.alarm(`Conflicts${peer}`, `${peer}-conflict`, {
        alarmDescription:
          `Peer ${peer} refused at least one change: it is parked in CONFLICT and overlapping changes wait behind ` +
          'it. Runbook: README, "Conflict".',
        metric: this.metrics.peer(METRIC.conflictEntries, peer),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.IGNORE,
      });
      this.alarm(`Held${peer}`, `${peer}-held`, {
        alarmDescription:
          `The delete guard holds at least one delete for peer ${peer}: a burst of deletes from one node, or a ` +
          'folder holding many entries. They wait for an operator. Runbook: docs/cloud.md, "Deletes held".',
        metric: this.metrics.peer(METRIC.heldChanges, peer),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        // A gauge published by every ping, like the conflicts.
        treatMissingData: cloudwatch.TreatMissingData.IGNORE,
      });
      this.alarm(`JobFailed${peer}`, `${peer}-job-failed`, {
        alarmDescription:
          `A verify or resync job of peer ${peer} ended FAILED (a source or the peer could not be read). ` +
          'Runbook: docs/cloud.md, "Job failed".',
        metric: this.metrics.peer(METRIC.jobsFailed, peer, 'Sum'),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        // Zero while nothing fails; no data only when no ping ran (the offline alarm covers that).
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      this.alarm(`Failed${peer}`, `${peer}-failed`, {
        alarmDescription:
          `At least one change for peer ${peer} is FAILED (the entry cannot be replayed, e.g. its body is ` +
          'unreadable). Runbook: README, "Failed entry".',
        metric: this.metrics.peer(METRIC.failedEntries, peer),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.IGNORE,
      });
    }

    this.alarm('DeadLetters', 'dead-letters', {
      alarmDescription:
        'Doorbell messages failed replay 5 times and sit in the dead-letter queue. The entries are still in the ' +
        'journal. Runbook: README, "Dead-letter queue not empty".',
      metric: this.props.deadLetters.metricApproximateNumberOfMessagesVisible({
        period: SERVICE_PERIOD,
        statistic: 'Maximum',
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    for (const [name, fn] of Object.entries(this.props.functions)) {
      const label = name[0]!.toUpperCase() + name.slice(1);
      this.alarm(`${label}Errors`, `${name}-errors`, {
        alarmDescription: `The ${name} function failed (uncaught error, timeout or out of memory). Runbook: README, "Function errors".`,
        metric: fn.function.metricErrors({ period: SERVICE_PERIOD, statistic: 'Sum' }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    }
  }

  private createQueries(): void {
    const stack = Stack.of(this).stackName;
    const { api, replay, ping } = this.props.functions;
    const all = [api.logGroup, replay.logGroup, ping.logGroup];
    const query = (id: string, name: string, logGroups: logs.ILogGroup[], queryString: logs.QueryString) =>
      this.queries.push(
        new logs.QueryDefinition(this, id, { queryDefinitionName: `${stack}/${name}`, queryString, logGroups }),
      );

    // Logs Insights has no parameters: edit the path in the filter line before running.
    query(
      'PathHistoryQuery',
      'what-happened-to-path',
      all,
      new logs.QueryString({
        fields: [
          '@timestamp',
          'level',
          'message',
          'entryId',
          'peer',
          'action',
          'path',
          'target',
          'outcome',
          'status',
          'reason',
        ],
        filterStatements: ['path = "/replace/with/the/path" or target = "/replace/with/the/path"'],
        sort: '@timestamp asc',
        limit: 1000,
      }),
    );
    // Run it with the time range set to the last day (saved queries carry no time range).
    query(
      'ConflictsByReasonQuery',
      'conflicts-by-reason',
      [replay.logGroup],
      new logs.QueryString({
        filterStatements: ['outcome = "conflict"'],
        statsStatements: [
          'count(*) as conflicts, latest(path) as lastPath, latest(entryId) as lastEntry by peer, reason',
        ],
        sort: 'conflicts desc',
      }),
    );
    query(
      'SlowestReplaysQuery',
      'slowest-replays',
      [replay.logGroup],
      new logs.QueryString({
        fields: ['@timestamp', 'entryId', 'peer', 'action', 'path', 'outcome', 'durationMs'],
        filterStatements: ['ispresent(entryId) and ispresent(durationMs)'],
        sort: 'durationMs desc',
        limit: 50,
      }),
    );
    query(
      'PeerStatusQuery',
      'peer-status-changes',
      all,
      new logs.QueryString({
        fields: ['@timestamp', 'peer', 'previous', 'status', 'reason'],
        filterStatements: ['ispresent(previous)'],
        sort: '@timestamp desc',
        limit: 200,
      }),
    );
  }
}
