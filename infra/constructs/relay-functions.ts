import { Duration } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { FunctionName } from '../paths.js';
import { RelayFunction } from './relay-function.js';

/** The replay function's timeout, Lambda's maximum: one entry may stream a multi-gigabyte body to the peer. */
export const REPLAY_TIMEOUT = Duration.minutes(15);
/** API Gateway HTTP APIs wait at most 30 s for an integration; the function gives up just before. */
export const API_TIMEOUT = Duration.seconds(29);
/** A ping probes every peer and sweeps the journal (list + read of pending entries). */
export const PING_TIMEOUT = Duration.minutes(5);
/** FIFO event sources take at most 10 messages a batch; each failed message is reported on its own. */
export const REPLAY_BATCH_SIZE = 10;

/** What the stateless half needs from the stateful half. */
export interface RelayStatefulResources {
  journalBucket: s3.IBucket;
  /** ARN pattern of the objects under the journal prefix (`arn:…:bucket/prefix/*`). */
  journalObjectsArn: string;
  journalPrefix: string;
  doorbell: sqs.IQueue;
  secret: secretsmanager.ISecret;
}

export interface RelayFunctionsProps {
  storage: RelayStatefulResources;
  /** Entry file per function (functions/api.ts, …). */
  entries: Record<FunctionName, string>;
  /** Environment of every function: the relay config and the secret's ARN (see relay-config.ts). */
  environment: Record<string, string>;
  pingRateMinutes: number;
  serviceName: string;
  metricsNamespace: string;
}

/**
 * The three functions and exactly the permissions each one uses:
 * - api: journals changes (read, write, delete, abort multipart copies, list under the journal prefix; presigned
 *   PUTs are signed with its role), rings the doorbell, reads the secret (node/admin tokens, peer passwords for
 *   an operator's ping, which also writes the peer's state), looks up applied-replica records and counts the
 *   echoes it drops (`<prefix>/echo/`: HEAD is s3:GetObject, the count a conditional PUT), keeps the delete
 *   guard's windows (`<prefix>/delete-guard/`: conditional PUTs; an operator's release or discard deletes one).
 * - replay: consumes the doorbell (receive, delete, change visibility, queue attributes for the event source
 *   mapping), reads bodies, rewrites parked entries, purges applied ones, keeps peer state, wait lists and entry
 *   claims (`<prefix>/peers/`, `<prefix>/waiting/`, `<prefix>/claims/`; conditional PUTs need no extra action),
 *   records each replica before sending it (`<prefix>/echo/replicas/`), lists lanes, rings the entries that waited
 *   (send), reads the secret.
 * - ping: probes peers (secret) and records their state, sweeps the journal (read, list), removes orphaned wait
 *   lists and claims (delete), reads the queue depth (GetQueueAttributes), re-drives pending entries (send).
 * Everything the cloud runtime keeps in S3 is under the journal prefix (src/runtime/cloud/). No action
 * wildcards; object actions only under the prefix; ListBucket only with an `s3:prefix` under it.
 */
export class RelayFunctions extends Construct {
  readonly api: RelayFunction;
  readonly replay: RelayFunction;
  readonly ping: RelayFunction;
  readonly pingSchedule: events.Rule;
  readonly replayEvents: lambda.EventSourceMapping;

  constructor(scope: Construct, id: string, props: RelayFunctionsProps) {
    super(scope, id);
    const { storage } = props;
    const common = {
      environment: props.environment,
      serviceName: props.serviceName,
      metricsNamespace: props.metricsNamespace,
    };

    this.api = new RelayFunction(this, 'Api', {
      ...common,
      entry: props.entries.api,
      description: 'vfs-relay HTTP API (Hono): journals changes, operator endpoints',
      timeout: API_TIMEOUT,
      memorySize: 512,
    });
    this.replay = new RelayFunction(this, 'Replay', {
      ...common,
      entry: props.entries.replay,
      description: 'vfs-relay replay: doorbell (SQS FIFO) → journal entries → WebDAV peers',
      timeout: REPLAY_TIMEOUT,
      // Streams bodies and runs several requests per peer: memory buys CPU and network bandwidth in Lambda.
      memorySize: 1024,
    });
    this.ping = new RelayFunction(this, 'Ping', {
      ...common,
      entry: props.entries.ping,
      description: 'vfs-relay ping: probes peers, sweeps the journal, publishes backlog metrics',
      timeout: PING_TIMEOUT,
      memorySize: 512,
      retryAttempts: 0,
    });

    const objects = storage.journalObjectsArn;
    const s3 = (role: iam.Role, actions: string[]) => {
      role.addToPrincipalPolicy(new iam.PolicyStatement({ actions, resources: [objects] }));
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['s3:ListBucket'],
          resources: [storage.journalBucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': [`${storage.journalPrefix}/*`] } },
        }),
      );
    };
    const sqs = (role: iam.Role, actions: string[]) =>
      role.addToPrincipalPolicy(new iam.PolicyStatement({ actions, resources: [storage.doorbell.queueArn] }));
    const secret = (role: iam.Role) =>
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [storage.secret.secretArn] }),
      );

    // Tagging: an operator's retry untags a parked entry's body (the optional parked-retention rule).
    s3(this.api.role, [
      's3:GetObject',
      's3:PutObject',
      's3:PutObjectTagging',
      's3:DeleteObject',
      's3:DeleteObjectTagging',
      's3:AbortMultipartUpload',
    ]);
    sqs(this.api.role, ['sqs:SendMessage']);
    secret(this.api.role);

    // Tagging: a parked entry's body is tagged for the optional parked-retention rule.
    s3(this.replay.role, [
      's3:GetObject',
      's3:PutObject',
      's3:PutObjectTagging',
      's3:DeleteObject',
      's3:DeleteObjectTagging',
    ]);
    sqs(this.replay.role, ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:SendMessage']);
    secret(this.replay.role);

    s3(this.ping.role, ['s3:GetObject', 's3:PutObject', 's3:DeleteObject']);
    sqs(this.ping.role, ['sqs:SendMessage', 'sqs:GetQueueAttributes']);
    secret(this.ping.role);

    // Declared by hand rather than with SqsEventSource, which would also grant sqs:GetQueueUrl.
    this.replayEvents = new lambda.EventSourceMapping(this, 'ReplayDoorbell', {
      target: this.replay.function,
      eventSourceArn: storage.doorbell.queueArn,
      batchSize: REPLAY_BATCH_SIZE,
      // The handler answers { batchItemFailures }: only the failed messages (and, FIFO, the rest of their
      // message group) come back; the others are deleted.
      reportBatchItemFailures: true,
    });
    // The mapping is validated against the role's permissions when it is created.
    this.replayEvents.node.addDependency(this.replay.role);

    // EventBridge rates are whole minutes (see pingRateMinutes in settings.ts). A missed ping is not retried:
    // the next one comes within the interval, and retries would only overlap it (Lambda's own retries of the
    // asynchronous call are off too: the function's retryAttempts).
    this.pingSchedule = new events.Rule(this, 'PingSchedule', {
      description: `vfs-relay ping every ${props.pingRateMinutes} minute(s)`,
      schedule: events.Schedule.rate(Duration.minutes(props.pingRateMinutes)),
      targets: [new targets.LambdaFunction(this.ping.function, { retryAttempts: 0 })],
    });
  }

  get all(): Record<FunctionName, RelayFunction> {
    return { api: this.api, replay: this.replay, ping: this.ping };
  }
}
