import { Stack } from 'aws-cdk-lib';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { RelaySettings } from './settings.js';

/**
 * What the functions in functions/ read from their environment. Only names and references: never a secret value.
 *
 * - `VFS_RELAY_CONFIG_JSON`: the relay's JSON config (CONTRACT "Config file") without any secret: journal
 *   `s3://<bucket>/<prefix>`, queue URL, peers and sources (no password), vfs, replicationUser, autoPlay,
 *   deleteGuard.
 * - `VFS_RELAY_SECRETS_ARN`: ARN of a Secrets Manager secret holding
 *   `{ "adminToken": "…", "nodeTokens": { "<node>": "…" }, "peerPasswords": { "<peer>": "…" } }`. At cold start a
 *   function reads it once and fills `auth.adminToken`, `auth.nodeTokens` and each `peers[i].password` and
 *   `sources[i].password` (by name) into the config before validating it.
 */
export const ENV = {
  config: 'VFS_RELAY_CONFIG_JSON',
  secretsArn: 'VFS_RELAY_SECRETS_ARN',
} as const;

/** The secret's JSON shape (keys the functions read). */
export interface RelaySecretValue {
  adminToken: string;
  nodeTokens: Record<string, string>;
  peerPasswords: Record<string, string>;
}

export interface RelayConfigSources {
  settings: RelaySettings;
  journalBucket: IBucket;
  doorbell: IQueue;
}

/** The relay config for the functions, as a CloudFormation string (bucket name and queue URL are resolved at deploy). */
export function relayConfigJson({ settings, journalBucket, doorbell }: RelayConfigSources): string {
  return Stack.of(journalBucket).toJsonString(relayConfig(settings, journalBucket.bucketName, doorbell.queueUrl));
}

/** Lambda's limit on a function's environment variables, names and values together. */
export const LAMBDA_ENVIRONMENT_BYTES = 4096;

/**
 * How many bytes the functions' environment takes at most once deployed: the config with the longest bucket name
 * and queue and secret ARNs CloudFormation may give them, and `fixed` (the variables every function has). More than
 * LAMBDA_ENVIRONMENT_BYTES fails the deployment (not the synth) with CloudFormation rolling back.
 */
export function environmentBytes(settings: RelaySettings, fixed: Record<string, string>): number {
  const longest = {
    bucket: 'b'.repeat(63),
    queue: `https://sqs.ap-southeast-3.amazonaws.com/123456789012/${'q'.repeat(75)}.fifo`,
    secret: `arn:aws:secretsmanager:ap-southeast-3:123456789012:secret:${'s'.repeat(64)}-AbCdEf`,
  };
  const environment = {
    ...fixed,
    [ENV.config]: JSON.stringify(relayConfig(settings, longest.bucket, longest.queue)),
    [ENV.secretsArn]: settings.secretArn ?? longest.secret,
  };
  return Object.entries(environment).reduce(
    (sum, [name, value]) => sum + Buffer.byteLength(name) + Buffer.byteLength(value),
    0,
  );
}

function relayConfig(settings: RelaySettings, bucketName: string, queueUrl: string) {
  return {
    journal: `s3://${bucketName}/${settings.journalPrefix}`,
    queue: queueUrl,
    peers: settings.peers.map((peer) => ({
      ...peer,
      pingIntervalSeconds: peer.pingIntervalSeconds ?? settings.pingIntervalSeconds,
    })),
    ...(settings.sources?.length ? { sources: settings.sources } : {}),
    vfs: settings.vfs.map((location) => ({ path: location.path, replicate: location.replicate ?? true })),
    replicationUser: settings.replicationUser,
    autoPlay: settings.autoPlay,
    deleteGuard: settings.deleteGuard,
  };
}
