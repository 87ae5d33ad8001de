import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { DEFAULT_METRICS_NAMESPACE } from '../src/observability/metric-names.js';
import { JournalStorage } from './constructs/journal-storage.js';
import { RelayApi } from './constructs/relay-api.js';
import { baseEnvironment } from './constructs/relay-function.js';
import { REPLAY_TIMEOUT, RelayFunctions } from './constructs/relay-functions.js';
import { RelayObservability } from './constructs/relay-observability.js';
import { acknowledgeNagFindings } from './nag-suppressions.js';
import { FUNCTION_ENTRIES, type FunctionName } from './paths.js';
import { ENV, environmentBytes, LAMBDA_ENVIRONMENT_BYTES, relayConfigJson } from './relay-config.js';
import { CONTEXT_KEY, pingRateMinutes, type RelaySettings, RelaySettingsError } from './settings.js';

export interface RelayStackProps extends StackProps {
  settings: RelaySettings;
  /** Entry files of the functions; defaults to functions/api.ts, replay.ts and ping.ts. */
  entries?: Record<FunctionName, string>;
}

/**
 * One relay in the cloud: the stateful storage (bucket, queues, secret), the stateless functions and API joined
 * to it by typed props, and the observability around them.
 */
export class RelayStack extends Stack {
  readonly storage: JournalStorage;
  readonly functions: RelayFunctions;
  readonly api: RelayApi;
  readonly observability: RelayObservability;

  constructor(scope: Construct, id: string, props: RelayStackProps) {
    super(scope, id, props);
    const { settings } = props;
    const rate = pingRateMinutes(settings);
    const environment = environmentBytes(settings, baseEnvironment(settings.serviceName, DEFAULT_METRICS_NAMESPACE));
    if (environment > LAMBDA_ENVIRONMENT_BYTES) {
      // CloudFormation would roll the deployment back; say so at synth, with what takes the room.
      throw new RelaySettingsError(
        `context ${CONTEXT_KEY}: the functions would carry up to ${environment} bytes of environment, more than ` +
          `Lambda's ${LAMBDA_ENVIRONMENT_BYTES} (the relay's config: ${settings.peers.length} peers, ` +
          `${settings.sources?.length ?? 0} sources, ${settings.vfs.length} locations); the deployment would fail`,
      );
    }

    this.storage = new JournalStorage(this, 'Storage', {
      journalPrefix: settings.journalPrefix,
      consumerTimeout: REPLAY_TIMEOUT,
      parkedRetentionDays: settings.parkedRetentionDays,
      secretArn: settings.secretArn,
    });

    this.functions = new RelayFunctions(this, 'Functions', {
      storage: {
        journalBucket: this.storage.journalBucket,
        journalObjectsArn: this.storage.journalObjectsArn,
        journalPrefix: this.storage.journalPrefix,
        doorbell: this.storage.doorbell,
        secret: this.storage.secret,
      },
      entries: props.entries ?? FUNCTION_ENTRIES,
      environment: {
        [ENV.config]: relayConfigJson({
          settings,
          journalBucket: this.storage.journalBucket,
          doorbell: this.storage.doorbell,
        }),
        [ENV.secretsArn]: this.storage.secret.secretArn,
      },
      pingRateMinutes: rate,
      serviceName: settings.serviceName,
      metricsNamespace: DEFAULT_METRICS_NAMESPACE,
    });

    this.api = new RelayApi(this, 'Api', {
      handler: this.functions.api.function,
      throttlingRateLimit: settings.api.throttlingRateLimit,
      throttlingBurstLimit: settings.api.throttlingBurstLimit,
    });

    this.observability = new RelayObservability(this, 'Observability', {
      peers: settings.peers.map((p) => p.name),
      serviceName: settings.serviceName,
      metricsNamespace: DEFAULT_METRICS_NAMESPACE,
      pingRateMinutes: rate,
      peerPingSeconds: Object.fromEntries(
        settings.peers.map((p) => [p.name, p.pingIntervalSeconds ?? settings.pingIntervalSeconds]),
      ),
      alarms: settings.alarms,
      alarmEmail: settings.alarmEmail,
      functions: this.functions.all,
      doorbell: this.storage.doorbell,
      deadLetters: this.storage.deadLetters,
      httpApi: this.api.httpApi,
    });

    acknowledgeNagFindings(this);

    new CfnOutput(this, 'ApiUrl', {
      value: this.api.url,
      description: 'Base URL of the relay API (nodes, CLI --relay)',
    });
    new CfnOutput(this, 'JournalBucketName', { value: this.storage.journalBucket.bucketName });
    new CfnOutput(this, 'DoorbellQueueUrl', { value: this.storage.doorbell.queueUrl });
    new CfnOutput(this, 'SecretArn', {
      value: this.storage.secret.secretArn,
      description: 'Secret with adminToken, nodeTokens, peerPasswords',
    });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.observability.topic.topicArn });
    new CfnOutput(this, 'DashboardName', { value: this.observability.dashboard.dashboardName });
  }
}
