import { z } from 'zod';
import {
  autoPlay,
  deleteGuard,
  name,
  peerSchema,
  pingIntervalSeconds,
  replicationUser,
  sourceNameProblems,
  sourceSchema,
  uniquePeerNames,
  vfsLocations,
} from './schema.js';

/**
 * The CDK deployment's settings (cdk.json context `vfsRelay`, or `-c vfsRelay='{…}'`): the relay's own peer and
 * VFS rules (shared with configSchema) plus what only a deployment has. Checked at `cdk synth`, so a typo fails
 * there rather than at the functions' cold start. Defaults are filled in here.
 */

/** A peer as the deployment describes it: the relay's peer without the password (that is in the secret). */
const deploymentPeer = peerSchema.omit({ password: true }).extend({
  pingIntervalSeconds: pingIntervalSeconds.optional().describe("default: the deployment's `pingIntervalSeconds`"),
  setModifiedTime: z.boolean().optional().describe("replay modified times (default true; the relay's setting)"),
});

const integer = (min: number, max: number) => z.number().int().min(min).max(max);

/** Key prefix in the bucket: `/`-separated segments, none `.` or `..`, no leading or trailing `/`. */
const journalPrefix = z
  .string()
  .regex(
    /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/,
    'use /-separated segments of letters, digits, ".", "_" or "-" (no leading or trailing /)',
  )
  .refine((value) => !/(^|\/)\.\.?(\/|$)/.test(value), 'no "." or ".." segment');

export const deploymentSettingsSchema = z
  .object({
    peers: z
      .array(deploymentPeer, {
        error: (issue) => (issue.input === undefined ? 'name at least one peer' : undefined),
      })
      .min(1, 'name at least one peer')
      .refine(uniquePeerNames, 'peer names must be unique')
      .describe('the WebDAV servers changes are replayed to'),
    sources: z
      .array(sourceSchema.omit({ password: true }))
      .default([])
      .describe("what verify and resync jobs may compare with (passwords in the secret's peerPasswords, by name)"),
    vfs: vfsLocations,
    replicationUser,
    pingIntervalSeconds: pingIntervalSeconds
      .default(60)
      .describe('how often peers are pinged, in seconds (EventBridge runs it in whole minutes, at least 1)'),
    alarmEmail: z.email().optional().describe('where alarms are e-mailed (an SNS subscription, confirmed once)'),
    journalPrefix: journalPrefix.default('vfs-relay').describe('key prefix of the journal in the bucket'),
    parkedRetentionDays: integer(1, 3650)
      .optional()
      .describe('expire entries parked in CONFLICT or FAILED after this many days (off: they wait for an operator)'),
    secretArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:secretsmanager:/, 'must be a Secrets Manager secret ARN')
      .optional()
      .describe('use this existing Secrets Manager secret instead of creating one (same JSON shape)'),
    autoPlay,
    deleteGuard,
    alarms: z
      .object({
        offlinePings: integer(1, 100)
          .default(3)
          .describe('alarm when a peer has not been ONLINE for this many consecutive pings'),
        oldestPendingMinutes: integer(1, 7 * 24 * 60)
          .default(60)
          .describe('alarm when the oldest pending entry of a peer is older than this'),
      })
      .strict()
      .default({ offlinePings: 3, oldestPendingMinutes: 60 }),
    api: z
      .object({
        throttlingRateLimit: integer(1, 10_000)
          .default(100)
          .describe('steady-state requests per second across the API (HTTP API stage throttling)'),
        throttlingBurstLimit: integer(1, 5_000).default(200).describe('burst requests'),
      })
      .strict()
      .default({ throttlingRateLimit: 100, throttlingBurstLimit: 200 }),
    serviceName: name
      .default('vfs-relay')
      .describe('the `service` dimension and log field; tells two relays in one account apart'),
  })
  .strict();

/** The rules across settings (the schema stays a plain object: settings.ts derives defaults from it). */
export function deploymentSettingsProblems(
  settings: DeploymentSettings,
): { path: (string | number)[]; message: string }[] {
  return sourceNameProblems(settings);
}

export type DeploymentSettings = z.output<typeof deploymentSettingsSchema>;

export type DeploymentPeer = DeploymentSettings['peers'][number];
