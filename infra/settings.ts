import {
  type DeploymentPeer,
  type DeploymentSettings,
  deploymentSettingsProblems,
  deploymentSettingsSchema,
} from '../src/config/deployment-schema.js';
import { describeIssues } from '../src/config/errors.js';
import { RelayError } from '../src/core/errors.js';

/** The context key (cdk.json "context", or `-c vfsRelay='{…}'`) holding the deployment parameters. */
export const CONTEXT_KEY = 'vfsRelay';

/** A peer as the deployment describes it: the relay's peer config without the password (that is in the secret). */
export type PeerSettings = DeploymentPeer;
export type VfsLocation = DeploymentSettings['vfs'][number];
/** Deployment parameters of one relay (src/config/deployment-schema.ts). Everything else is derived or fixed. */
export type RelaySettings = DeploymentSettings;

/** What every setting but `peers` is when the context leaves it out. */
export const DEFAULT_SETTINGS: Omit<RelaySettings, 'peers'> = deploymentSettingsSchema.omit({ peers: true }).parse({});

/** The deployment parameters are missing or invalid; the message names the context key. */
export class RelaySettingsError extends RelayError {
  readonly code = 'BAD_SETTINGS';
}

/**
 * Reads the `vfsRelay` context value (an object from cdk.json, or a JSON string from `-c`), fills defaults and
 * validates it with the deployment schema, which shares the relay config's peer and VFS rules: a typo fails
 * `cdk synth` rather than the functions' cold start.
 */
export function settingsFromContext(value: unknown): RelaySettings {
  const raw = typeof value === 'string' ? parseJson(value) : value;
  if (raw === undefined || raw === null) {
    throw new RelaySettingsError(`context ${CONTEXT_KEY} is missing: see the example in cdk.json`);
  }
  const parsed = deploymentSettingsSchema.safeParse(raw);
  if (!parsed.success) {
    throw new RelaySettingsError(
      describeIssues(parsed.error, (key) => `context ${CONTEXT_KEY}${key.startsWith('[') || !key ? key : `.${key}`}`),
    );
  }
  const [problem] = deploymentSettingsProblems(parsed.data);
  if (problem) {
    const key = problem.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('');
    throw new RelaySettingsError(`context ${CONTEXT_KEY}${key}: ${problem.message}`);
  }
  return parsed.data;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new RelaySettingsError(`context ${CONTEXT_KEY} is not valid JSON: ${(error as Error).message}`);
  }
}

/**
 * EventBridge schedules run at most once a minute (rate expressions are in whole minutes), so the ping runs
 * every `floor(seconds / 60)` minutes, at least 1: never later than asked. A sub-minute interval becomes
 * rate(1 minute); the relay config still carries the exact seconds.
 */
export function pingRateMinutes(settings: Pick<RelaySettings, 'peers' | 'pingIntervalSeconds'>): number {
  const seconds = Math.min(...settings.peers.map((p) => p.pingIntervalSeconds ?? settings.pingIntervalSeconds));
  return Math.max(1, Math.floor(seconds / 60));
}
