import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { App, Validations } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../infra/paths.js';
import { ENV } from '../../infra/relay-config.js';
import { RelayStack } from '../../infra/relay-stack.js';
import { type RelaySettings, settingsFromContext } from '../../infra/settings.js';
import { parseConfig } from '../../src/config/load.js';
import { S3ReplicaRecords } from '../../src/runtime/cloud/echo-records.js';
import { checkCloudConfig } from '../../src/runtime/cloud/env.js';

type Json = Record<string, unknown>;
interface Resource {
  Type: string;
  Properties: Json;
  DependsOn?: string[];
}

/** Feature flags as `cdk synth` sees them (cdk.json), without the example deployment. */
function featureFlags(): Json {
  const { context } = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as { context: Json };
  const { vfsRelay: _example, ...flags } = context;
  return flags;
}

const settings: RelaySettings = settingsFromContext({
  peers: [
    { name: 'server2', url: 'https://server2.example.com/', username: 'replication', node: 'node-b' },
    { name: 'dr-site', url: 'https://dr.example.com/dav/', username: 'replication', pingIntervalSeconds: 300 },
  ],
  vfs: [{ path: '/user_homes/' }],
  pingIntervalSeconds: 120,
  alarmEmail: 'ops@example.com',
  alarms: { offlinePings: 3, oldestPendingMinutes: 45 },
});

let stack: RelayStack;
let template: Template;
let resources: Record<string, Resource>;

function ofType(type: string): [string, Resource][] {
  return Object.entries(resources).filter(([, r]) => r.Type === type);
}

function logicalIdOf(construct: IConstruct): string {
  return stack.getLogicalId(construct.node.defaultChild as never);
}

beforeAll(() => {
  // Synthesised once for the whole file: bundling the three functions is the slow part.
  const app = new App({ context: featureFlags() });
  stack = new RelayStack(app, 'RelayTest', { settings });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
  template = Template.fromStack(stack);
  resources = template.toJSON().Resources as Record<string, Resource>;
}, 120_000); // about 15 s on an idle machine; room for a busy CI

describe('journal bucket', () => {
  it('is encrypted, private, TLS-only and unversioned', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      VersioningConfiguration: Match.absent(),
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
    template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain' });
  });

  it('aborts incomplete multipart uploads after a day, removes echo records after two, and expires nothing else', async () => {
    const [[, bucket]] = ofType('AWS::S3::Bucket') as [[string, Resource]];
    const rules = (bucket.Properties.LifecycleConfiguration as { Rules: Json[] }).Rules;
    expect(rules).toEqual([
      {
        Id: 'abort-incomplete-multipart-uploads',
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
        Status: 'Enabled',
      },
      { Id: 'expire-echo-records', Prefix: 'vfs-relay/echo/replicas/', ExpirationInDays: 2, Status: 'Enabled' },
    ]);
    // The rule's prefix is where the runtime writes them, and covers nothing else (the echo counts stay).
    const records = new S3ReplicaRecords(new S3Client({ region: 'us-east-1' }), 'journal-bucket', 'vfs-relay');
    expect(await records.replicaKey('node-b', 'put /user_homes/a.txt')).toMatch(/^vfs-relay\/echo\/replicas\//);
    expect(records.countKey('node-b')).not.toMatch(/^vfs-relay\/echo\/replicas\//);
    // The longest echo window the configuration allows (a day) fits in the two days.
    expect(() => parseConfig({ echoWindowSeconds: 86_400 }, {}, 'test')).not.toThrow();
    expect(() => parseConfig({ echoWindowSeconds: 86_401 }, {}, 'test')).toThrow(/echoWindowSeconds/);
  });
});

describe('doorbell queue', () => {
  it('is FIFO without content-based deduplication, with a FIFO dead-letter queue', () => {
    const queues = ofType('AWS::SQS::Queue');
    expect(queues).toHaveLength(2);
    for (const [, queue] of queues) {
      expect(queue.Properties).toMatchObject({
        FifoQueue: true,
        ContentBasedDeduplication: false,
        SqsManagedSseEnabled: true,
      });
    }
    const doorbell = logicalIdOf(stack.storage.doorbell);
    const deadLetters = logicalIdOf(stack.storage.deadLetters);
    expect(resources[doorbell]!.Properties.RedrivePolicy).toEqual({
      deadLetterTargetArn: { 'Fn::GetAtt': [deadLetters, 'Arn'] },
      maxReceiveCount: 5,
    });
  });

  it('keeps messages invisible for at least 6x the replay timeout', () => {
    const replay = resources[logicalIdOf(stack.functions.replay.function)]!;
    const doorbell = resources[logicalIdOf(stack.storage.doorbell)]!;
    expect(replay.Properties.Timeout).toBe(900);
    expect(doorbell.Properties.VisibilityTimeout as number).toBeGreaterThanOrEqual(6 * 900);
  });
});

describe('functions', () => {
  it('run Node.js 22 on arm64 with the sized timeouts and their own 30-day log groups', () => {
    const functions = ofType('AWS::Lambda::Function');
    expect(functions).toHaveLength(3);
    for (const [, fn] of functions) {
      expect(fn.Properties.Runtime).toBe('nodejs22.x');
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      expect(fn.Properties.Handler).toBe('index.handler');
      const logGroup = (fn.Properties.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
      expect(resources[logGroup]!.Properties.RetentionInDays).toBe(30);
    }
    const timeout = (fn: { function: IConstruct }) => resources[logicalIdOf(fn.function)]!.Properties.Timeout;
    expect(timeout(stack.functions.api)).toBe(29);
    expect(timeout(stack.functions.replay)).toBe(900);
    expect(timeout(stack.functions.ping)).toBe(300);
  });

  it('replay consumes the doorbell and reports batch item failures', () => {
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalIdOf(stack.functions.replay.function) },
      EventSourceArn: { 'Fn::GetAtt': [logicalIdOf(stack.storage.doorbell), 'Arn'] },
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it('pings on an EventBridge schedule at the smallest ping interval', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(2 minutes)',
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [logicalIdOf(stack.functions.ping.function), 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 0 },
        }),
      ],
    });
    // EventBridge's retry policy is not Lambda's: without this, a ping that failed or timed out ran twice more,
    // overlapping the next scheduled ones (found by a review).
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalIdOf(stack.functions.ping.function) },
      MaximumRetryAttempts: 0,
    });
  });

  it('keep secrets out of the environment: only the secret ARN and a config without secrets', () => {
    const secret = logicalIdOf(stack.storage.secret as never);
    for (const [, fn] of ofType('AWS::Lambda::Function')) {
      const variables = (fn.Properties.Environment as { Variables: Json }).Variables;
      expect(variables[ENV.secretsArn]).toEqual({ Ref: secret });
      for (const [name, value] of Object.entries(variables)) {
        const literal = literalText(value);
        expect(literal, name).not.toMatch(/password|token|secret/i);
        if (typeof value === 'string') expect(value, name).not.toMatch(/^[A-Za-z0-9+/=_-]{24,}$/);
        if (name !== ENV.secretsArn) expect(name).not.toMatch(/TOKEN|PASSWORD|SECRET/);
      }
    }
    // The secret is generated, never written into the template.
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      SecretString: Match.absent(),
      GenerateSecretString: Match.objectLike({ GenerateStringKey: 'adminToken' }),
    });
  });

  it('give the functions a relay config the runtime accepts once the secret is merged in', () => {
    const fn = resources[logicalIdOf(stack.functions.replay.function)]!;
    const text = resolveJoin((fn.Properties.Environment as { Variables: Json }).Variables[ENV.config]);
    const json = JSON.parse(text) as Json & { peers: Json[] };
    expect(json.journal).toBe('s3://journal-bucket/vfs-relay');
    const config = parseConfig(
      {
        ...json,
        auth: { adminToken: 'admin-token-0123456789', nodeTokens: { 'node-a': 'node-a-token-0123456789' } },
        peers: json.peers.map((p) => ({ ...p, password: 'pw' })),
      },
      {},
      ENV.config,
    );
    expect(() => checkCloudConfig(config)).not.toThrow();
    expect(config.peers.map((p) => [p.name, p.pingIntervalSeconds, p.node])).toEqual([
      ['server2', 120, 'node-b'],
      ['dr-site', 300, undefined],
    ]);
  });
});

describe('IAM', () => {
  const BUCKET_ACTIONS = [
    's3:GetObject',
    's3:PutObject',
    's3:DeleteObject',
    's3:AbortMultipartUpload',
    's3:ListBucket',
    's3:PutObjectTagging',
    's3:DeleteObjectTagging',
  ];
  const QUEUE_ACTIONS = [
    'sqs:SendMessage',
    'sqs:ReceiveMessage',
    'sqs:DeleteMessage',
    'sqs:ChangeMessageVisibility',
    'sqs:GetQueueAttributes',
  ];

  function statements(): { policy: string; roles: string[]; statement: Json }[] {
    return ofType('AWS::IAM::Policy').flatMap(([policy, r]) => {
      const doc = r.Properties.PolicyDocument as { Statement: Json[] };
      const roles = (r.Properties.Roles as { Ref: string }[]).map((role) => role.Ref);
      return doc.Statement.map((statement) => ({ policy, roles, statement }));
    });
  }

  it('has no wildcard action anywhere, and only known actions on the bucket and queue', () => {
    const bucket = logicalIdOf(stack.storage.journalBucket);
    const queue = logicalIdOf(stack.storage.doorbell);
    const all = statements();
    expect(all.length).toBeGreaterThan(0);
    for (const { policy, statement } of all) {
      const actions = [statement.Action].flat() as string[];
      const resourceText = JSON.stringify(statement.Resource);
      expect(statement.Effect, policy).toBe('Allow');
      expect(statement.NotAction, policy).toBeUndefined();
      expect(statement.Resource, policy).not.toBe('*');
      for (const action of actions) expect(action, `${policy}: ${action}`).not.toContain('*');
      if (resourceText.includes(bucket)) expect(BUCKET_ACTIONS, policy).toEqual(expect.arrayContaining(actions));
      if (resourceText.includes(queue)) expect(QUEUE_ACTIONS, policy).toEqual(expect.arrayContaining(actions));
    }
    template.resourceCountIs('AWS::IAM::ManagedPolicy', 0);
    for (const [, role] of ofType('AWS::IAM::Role')) expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  });

  it('gives each function exactly the actions it uses', () => {
    const byRole = new Map<string, Set<string>>();
    for (const { roles, statement } of statements()) {
      for (const role of roles) {
        const set = byRole.get(role) ?? new Set<string>();
        for (const action of [statement.Action].flat() as string[]) set.add(action);
        byRole.set(role, set);
      }
    }
    const actionsOf = (fn: { role: IConstruct }) => [...(byRole.get(logicalIdOf(fn.role)) ?? [])].sort();
    const logs = ['logs:CreateLogStream', 'logs:PutLogEvents'];
    const secret = ['secretsmanager:GetSecretValue'];
    expect(actionsOf(stack.functions.api)).toEqual(
      [
        ...logs,
        ...secret,
        's3:AbortMultipartUpload',
        's3:DeleteObject',
        's3:DeleteObjectTagging',
        's3:GetObject',
        's3:ListBucket',
        's3:PutObject',
        's3:PutObjectTagging',
        'sqs:SendMessage',
      ].sort(),
    );
    expect(actionsOf(stack.functions.replay)).toEqual(
      [
        ...logs,
        ...secret,
        's3:DeleteObject',
        's3:DeleteObjectTagging',
        's3:GetObject',
        's3:ListBucket',
        's3:PutObject',
        's3:PutObjectTagging',
        // Not sqs:ChangeMessageVisibility: the event source mapping does not need it and the code never calls it
        // (granted until a review found it unused).
        'sqs:DeleteMessage',
        'sqs:GetQueueAttributes',
        'sqs:ReceiveMessage',
        'sqs:SendMessage',
      ].sort(),
    );
    expect(actionsOf(stack.functions.ping)).toEqual(
      [
        ...logs,
        ...secret,
        's3:DeleteObject',
        's3:GetObject',
        's3:ListBucket',
        's3:PutObject',
        'sqs:GetQueueAttributes',
        'sqs:SendMessage',
      ].sort(),
    );
  });

  it('scopes object actions to the journal prefix and listing to it', () => {
    const bucket = logicalIdOf(stack.storage.journalBucket);
    for (const { statement } of statements()) {
      const actions = [statement.Action].flat() as string[];
      if (actions.includes('s3:GetObject')) {
        expect(statement.Resource).toEqual({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucket, 'Arn'] }, '/vfs-relay/*']] });
      }
      if (actions.includes('s3:ListBucket')) {
        expect(statement).toMatchObject({
          Resource: { 'Fn::GetAtt': [bucket, 'Arn'] },
          Condition: { StringLike: { 's3:prefix': ['vfs-relay/*'] } },
        });
      }
    }
  });
});

describe('API', () => {
  it('is an HTTP API with one catch-all route to the api function, throttled and access-logged', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: '$default', AuthorizationType: 'NONE' });
    template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
      IntegrationUri: { 'Fn::GetAtt': [logicalIdOf(stack.functions.api.function), 'Arn'] },
    });
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 },
      AccessLogSettings: Match.objectLike({ Format: Match.stringLikeRegexp('"status":"\\$context.status"') }),
    });
  });
});

describe('observability', () => {
  function alarm(name: string): Json {
    const found = ofType('AWS::CloudWatch::Alarm').find(([, a]) => a.Properties.AlarmName === `RelayTest-${name}`);
    expect(found, name).toBeDefined();
    return found![1].Properties;
  }
  const peerDimensions = (peer: string) => [
    { Name: 'peer', Value: peer },
    { Name: 'service', Value: 'vfs-relay' },
  ];

  it('alarms when a peer has not been online for N pings', () => {
    // dr-site is probed every 300 s, i.e. every third run of the 2-minute ping: one failed probe reads OFFLINE for 3
    // periods, so 3 failed probes in a row span (3 - 1) × 3 + 1 = 7 (the alarm took 3, and fired on one; found by a
    // review).
    for (const [peer, periods] of [
      ['server2', 3],
      ['dr-site', 7],
    ] as const) {
      const a = alarm(`${peer}-offline`);
      expect(a).toMatchObject({
        Namespace: 'VfsRelay',
        MetricName: 'PeerOnline',
        Statistic: 'Maximum',
        Period: 120,
        EvaluationPeriods: periods,
        DatapointsToAlarm: periods,
        Threshold: 1,
        ComparisonOperator: 'LessThanThreshold',
        TreatMissingData: 'breaching',
      });
      expect(sortDimensions(a.Dimensions)).toEqual(peerDimensions(peer));
    }
  });

  it('alarms on the oldest pending entry, conflicts and failed entries per peer', () => {
    expect(alarm('server2-oldest-pending')).toMatchObject({
      MetricName: 'OldestPendingAge',
      Threshold: 45 * 60,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 1,
    });
    expect(alarm('server2-conflict')).toMatchObject({
      MetricName: 'ConflictEntries',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    expect(alarm('dr-site-failed')).toMatchObject({
      MetricName: 'FailedEntries',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    expect(sortDimensions(alarm('dr-site-conflict').Dimensions)).toEqual(peerDimensions('dr-site'));
  });

  it('alarms when a verify or resync job of a peer ends FAILED', () => {
    expect(alarm('server2-job-failed')).toMatchObject({
      MetricName: 'JobsFailed',
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
    });
    expect(sortDimensions(alarm('dr-site-job-failed').Dimensions)).toEqual(peerDimensions('dr-site'));
  });

  it('alarms when the delete guard holds a delete for a peer', () => {
    expect(alarm('server2-held')).toMatchObject({
      MetricName: 'HeldChanges',
      Statistic: 'Maximum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'ignore',
    });
    expect(alarm('server2-held').AlarmDescription).toContain('docs/cloud.md, "Deletes held"');
    expect(sortDimensions(alarm('dr-site-held').Dimensions)).toEqual(peerDimensions('dr-site'));
  });

  it('alarms when the dead-letter queue is not empty and on any function error', () => {
    expect(alarm('dead-letters')).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [
        { Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalIdOf(stack.storage.deadLetters), 'QueueName'] } },
      ],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    for (const name of ['api', 'replay', 'ping'] as const) {
      expect(alarm(`${name}-errors`)).toMatchObject({
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Statistic: 'Sum',
        Period: 300,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalIdOf(stack.functions[name].function) } }],
      });
    }
    // 6 per peer + dead letters + 3 functions, each to the topic on ALARM and OK.
    const alarms = ofType('AWS::CloudWatch::Alarm');
    expect(alarms).toHaveLength(2 * 6 + 1 + 3);
    const topic = logicalIdOf(stack.observability.topic);
    for (const [, a] of alarms) {
      expect(a.Properties.AlarmActions).toEqual([{ Ref: topic }]);
      expect(a.Properties.OKActions).toEqual([{ Ref: topic }]);
    }
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
  });

  it('has a dashboard of the relay metrics and the saved Logs Insights queries', () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const body = JSON.stringify(ofType('AWS::CloudWatch::Dashboard')[0]![1].Properties.DashboardBody);
    for (const metric of [
      'PeerOnline',
      'PendingEntries',
      'PendingBytes',
      'OldestPendingAge',
      'ReplayConflict',
      'ReplicationLatency',
      'ChangesIgnored',
      'EchoesSuppressed',
      'JobsRunning',
      'JobItemsScanned',
      'JobDifferences',
      'JobWritesDone',
      'JobBytesCopied',
      'JobsFailed',
      'HeldChanges',
    ]) {
      expect(body).toContain(metric);
    }
    const names = ofType('AWS::Logs::QueryDefinition').map(([, q]) => q.Properties.Name);
    expect(names.sort()).toEqual(
      ['conflicts-by-reason', 'peer-status-changes', 'slowest-replays', 'what-happened-to-path'].map(
        (n) => `RelayTest/${n}`,
      ),
    );
    template.hasResourceProperties('AWS::Logs::QueryDefinition', {
      Name: 'RelayTest/conflicts-by-reason',
      QueryString: Match.stringLikeRegexp('filter outcome = "conflict"[\\s\\S]*by peer, reason'),
    });
  });
});

describe('checks', () => {
  it('passes cdk-nag AwsSolutions with every acknowledgement explained', () => {
    const report = new AwsSolutionsChecks(stack).validateScope(stack);
    expect(report.violations.map((v) => `${v.ruleName}: ${v.description}`)).toEqual([]);
    const reasons = stack.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
      .flatMap((m) => Object.entries(m.data as Record<string, string>));
    expect(reasons.length).toBeGreaterThan(0);
    for (const [id, reason] of reasons) expect(reason.length, id).toBeGreaterThan(40);
  });

  it('has no error or warning annotations', () => {
    const annotations = Annotations.fromStack(stack);
    expect(annotations.findError('*', Match.anyValue())).toEqual([]);
    expect(annotations.findWarning('*', Match.anyValue())).toEqual([]);
  });

  it('matches the snapshot (asset hashes scrubbed)', () => {
    const text = JSON.stringify(template.toJSON(), null, 1).replace(/[0-9a-f]{64}/g, '[HASH]');
    expect(text).not.toContain(REPO_ROOT);
    expect(JSON.parse(text)).toMatchSnapshot();
  });
});

/** The literal parts of an environment value (a string or an Fn::Join of strings and references). */
function literalText(value: unknown): string {
  if (typeof value === 'string') return value;
  const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  return join ? join[1].filter((p): p is string => typeof p === 'string').join('') : '';
}

/** Resolves the config's Fn::Join with stand-ins for the bucket name and queue URL. */
function resolveJoin(value: unknown): string {
  const [separator, parts] = (value as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
  return parts
    .map((part) => {
      if (typeof part === 'string') return part;
      const ref = (part as { Ref: string }).Ref;
      const type = resources[ref]?.Type;
      if (type === 'AWS::S3::Bucket') return 'journal-bucket';
      if (type === 'AWS::SQS::Queue') return 'https://sqs.eu-west-1.amazonaws.com/123456789012/doorbell.fifo';
      throw new Error(`unexpected reference ${JSON.stringify(part)}`);
    })
    .join(separator);
}

function sortDimensions(dimensions: unknown): { Name: string; Value: unknown }[] {
  return [...(dimensions as { Name: string; Value: unknown }[])].sort((a, b) => a.Name.localeCompare(b.Name));
}
