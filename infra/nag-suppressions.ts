import { Stack, Validations } from 'aws-cdk-lib';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { IConstruct } from 'constructs';
import type { RelayStack } from './relay-stack.js';

/**
 * cdk-nag (AwsSolutions) findings the relay accepts, each on the narrowest construct and with its reason. Any
 * other finding fails `cdk synth` and the infra tests.
 */
export function acknowledgeNagFindings(stack: RelayStack): void {
  const acknowledge = (scope: IConstruct, id: string, reason: string) =>
    Validations.of(scope).acknowledge({ id, reason });
  const { journalBucket, secret } = stack.storage;

  acknowledge(
    journalBucket,
    'AwsSolutions-S1',
    'Journal objects live minutes to days; every change is logged by the relay with its entry id, lane and peer ' +
      '(Logs Insights). Enable CloudTrail S3 data events for the bucket where an access audit trail is required.',
  );
  acknowledge(
    secret,
    'AwsSolutions-SMG4',
    'The secret holds tokens issued to nodes and passwords set on the peers: rotating them means changing the ' +
      'nodes and peers too, which the operator does by hand (put-secret-value; functions read it at cold start).',
  );
  for (const fn of Object.values(stack.functions.all)) {
    acknowledge(
      fn.function,
      'AwsSolutions-L1',
      'Node.js 22 is the runtime the relay is built and tested for (package engines, TOOLCHAIN); moving to a newer ' +
        'runtime is a deliberate upgrade with its own test run.',
    );
    acknowledge(
      fn.role,
      `AwsSolutions-IAM5[Resource::<${logicalId(journalBucket)}.Arn>/${stack.storage.journalPrefix}/*]`,
      'Object actions on the journal prefix only: entry keys (<lane>/<stamp>/config.XML|upload) are created at ' +
        'run time, so they cannot be listed in the policy. Actions are explicit, no wildcards.',
    );
  }
  acknowledge(
    stack.api.httpApi,
    'AwsSolutions-APIG4',
    'Authorization NONE at the gateway by design: the app checks the bearer token (node or admin token from ' +
      'Secrets Manager) on every route except /healthz and /openapi.json, as in the embedded relay.',
  );
}

function logicalId(bucket: s3.Bucket): string {
  return Stack.of(bucket).getLogicalId(bucket.node.defaultChild as s3.CfnBucket);
}
