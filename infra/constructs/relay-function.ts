import { join } from 'node:path';
import { type Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { REPO_ROOT } from '../paths.js';

/**
 * Defaults shared by every relay function, in one place:
 * - Node.js 22 on ARM64 (Graviton: about 20% cheaper per GB-second than x86 for the same work; the bundle is
 *   plain JavaScript, so the architecture does not matter to the build).
 * - Bundled by the local esbuild (no Docker) as one ESM file, the AWS SDK included: the versions pinned in
 *   package-lock.json run in Lambda, not whatever the runtime ships. Source maps for readable stack traces.
 * - A log group of its own with 30 days' retention, and a role of its own that may write only to it (no
 *   AWSLambdaBasicExecutionRole, which allows every log group of the account).
 * - Powertools settings: service name (the `service` dimension and log field), metrics namespace, log level.
 */
export const FUNCTION_DEFAULTS = {
  runtime: lambda.Runtime.NODEJS_22_X,
  architecture: lambda.Architecture.ARM_64,
  logRetention: logs.RetentionDays.ONE_MONTH,
} as const;

export interface RelayFunctionProps {
  /** Absolute path of the entry file (exports `handler`). */
  entry: string;
  description: string;
  timeout: Duration;
  memorySize: number;
  environment: Record<string, string>;
  serviceName: string;
  metricsNamespace: string;
  /**
   * Lambda's own retries of an asynchronous invocation that failed or timed out (EventBridge's retry policy is
   * another); unset: Lambda's default, 2.
   */
  retryAttempts?: number;
}

/** What every function's environment holds besides what its props add. */
export function baseEnvironment(serviceName: string, metricsNamespace: string): Record<string, string> {
  return {
    NODE_OPTIONS: '--enable-source-maps',
    POWERTOOLS_SERVICE_NAME: serviceName,
    POWERTOOLS_METRICS_NAMESPACE: metricsNamespace,
    POWERTOOLS_LOG_LEVEL: 'INFO',
  };
}

export class RelayFunction extends Construct {
  readonly function: NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: RelayFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: FUNCTION_DEFAULTS.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `vfs-relay ${id} function`,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, 'Function', {
      entry: props.entry,
      handler: 'handler',
      description: props.description,
      runtime: FUNCTION_DEFAULTS.runtime,
      architecture: FUNCTION_DEFAULTS.architecture,
      timeout: props.timeout,
      memorySize: props.memorySize,
      ...(props.retryAttempts !== undefined && { retryAttempts: props.retryAttempts }),
      role: this.role,
      logGroup: this.logGroup,
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
      environment: { ...baseEnvironment(props.serviceName, props.metricsNamespace), ...props.environment },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        mainFields: ['module', 'main'],
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        externalModules: [],
        tsconfig: join(REPO_ROOT, 'tsconfig.json'),
        // CommonJS dependencies bundled into ESM still call require() for Node built-ins.
        banner: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
      },
    });
  }
}
