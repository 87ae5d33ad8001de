import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { DIMENSION, type MetricSpec } from '../../src/observability/metric-names.js';

/** Period of the graphs and alarms on Lambda, SQS and API metrics, and of per-attempt replay figures. */
export const SERVICE_PERIOD = Duration.minutes(5);

export interface RelayMetricSourceProps {
  namespace: string;
  /** The `service` dimension Powertools adds to every metric (POWERTOOLS_SERVICE_NAME of the functions). */
  serviceName: string;
  /** Default period: the ping rate, since the ping publishes the gauges (PeerOnline, backlog). */
  period: Duration;
}

/** The relay's own metrics (src/observability/metric-names.ts) as CloudWatch metrics for graphs and alarms. */
export class RelayMetricSource {
  constructor(readonly props: RelayMetricSourceProps) {}

  metric(spec: MetricSpec, statistic: string, extra?: Record<string, string>, period?: Duration): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: this.props.namespace,
      metricName: spec.name,
      dimensionsMap: { [DIMENSION.service]: this.props.serviceName, ...extra },
      statistic,
      period: period ?? this.props.period,
    });
  }

  peer(spec: MetricSpec, peer: string, statistic = 'Maximum', period?: Duration): cloudwatch.Metric {
    return this.metric(spec, statistic, { [DIMENSION.peer]: peer }, period);
  }

  /** Every series of `spec` split by `dimension` (values not known at synth time: reasons, nodes). */
  search(spec: MetricSpec, dimension: string): cloudwatch.MathExpression {
    const { namespace, serviceName } = this.props;
    return new cloudwatch.MathExpression({
      expression: `SEARCH('{${namespace},${DIMENSION.service},${dimension}} MetricName="${spec.name}" ${DIMENSION.service}="${serviceName}"', 'Sum', ${SERVICE_PERIOD.toSeconds()})`,
      label: '',
      period: SERVICE_PERIOD,
    });
  }
}
