import { configSchema } from '../src/config/schema.js';

/** The context key (cdk.json "context", or `-c vfsRelay='{…}'`) holding the deployment parameters. */
export const CONTEXT_KEY = 'vfsRelay';

/** A peer as the deployment describes it: the relay's peer config without the password (that is in the secret). */
export interface PeerSettings {
  name: string;
  url: string;
  username?: string;
  /** The node whose own server this peer is (active-active: its changes are not replayed back to it). */
  node?: string;
  /** Defaults to the deployment's `pingIntervalSeconds`. */
  pingIntervalSeconds?: number;
  /** Replay modified times with PROPPATCH (default true; see the relay's `peers[].setModifiedTime`). */
  setModifiedTime?: boolean;
}

export interface VfsLocation {
  path: string;
  replicate?: boolean;
}

/** Deployment parameters of one relay. Everything else is derived or fixed in the constructs. */
export interface RelaySettings {
  peers: PeerSettings[];
  vfs: VfsLocation[];
  /** Changes made by this user are replicas, never journaled (loop prevention). Default `replication`. */
  replicationUser: string;
  /** How often peers are pinged (seconds). EventBridge's smallest rate is 1 minute: see pingRateMinutes. */
  pingIntervalSeconds: number;
  /** Where alarms are e-mailed (SNS subscription, to confirm once). No subscription when absent. */
  alarmEmail?: string;
  /** Key prefix of the journal in the bucket (`<prefix>/multi_journal/...`). Default `vfs-relay`. */
  journalPrefix: string;
  /**
   * Expire entries parked in CONFLICT or FAILED after this many days (objects tagged as parked). Off by default:
   * a parked entry waits for an operator.
   */
  parkedRetentionDays?: number;
  /** Use this existing Secrets Manager secret instead of creating one (same JSON shape). */
  secretArn?: string;
  /** A new change for an OFFLINE peer triggers an immediate ping (relay config `autoPlay`). */
  autoPlay: boolean;
  alarms: {
    /** Alarm when a peer has not been ONLINE for this many consecutive pings. Default 3. */
    offlinePings: number;
    /** Alarm when the oldest pending entry of a peer is older than this. Default 60 minutes. */
    oldestPendingMinutes: number;
  };
  api: {
    /** Steady-state requests per second across the API (HTTP API stage throttling). Default 100. */
    throttlingRateLimit: number;
    /** Burst requests. Default 200. */
    throttlingBurstLimit: number;
  };
  /** The `service` dimension and log field; tells two relays in one account apart. Default `vfs-relay`. */
  serviceName: string;
}

export const DEFAULT_SETTINGS: Omit<RelaySettings, 'peers'> = {
  vfs: [{ path: '/', replicate: true }],
  replicationUser: 'replication',
  pingIntervalSeconds: 60,
  journalPrefix: 'vfs-relay',
  autoPlay: false,
  alarms: { offlinePings: 3, oldestPendingMinutes: 60 },
  api: { throttlingRateLimit: 100, throttlingBurstLimit: 200 },
  serviceName: 'vfs-relay',
};

const SETTING_KEYS = new Set([
  ...Object.keys(DEFAULT_SETTINGS),
  'peers',
  'alarmEmail',
  'parkedRetentionDays',
  'secretArn',
]);

/** The deployment parameters are missing or invalid; the message names the context key. */
export class RelaySettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RelaySettingsError';
  }
}

/**
 * Reads the `vfsRelay` context value (an object from cdk.json, or a JSON string from `-c`), fills defaults and
 * validates it: peers and VFS locations with the relay's own config schema, so a typo fails `cdk synth`
 * rather than the functions' cold start.
 */
export function settingsFromContext(value: unknown): RelaySettings {
  const raw = typeof value === 'string' ? parseJson(value) : value;
  if (raw === undefined || raw === null) {
    throw new RelaySettingsError(`context ${CONTEXT_KEY} is missing: see the example in cdk.json`);
  }
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new RelaySettingsError(`context ${CONTEXT_KEY} must be an object`);
  }
  const input = raw as Partial<RelaySettings>;
  const unknown = Object.keys(input).filter((key) => !SETTING_KEYS.has(key));
  if (unknown.length > 0) throw new RelaySettingsError(`context ${CONTEXT_KEY}: unknown setting ${unknown.join(', ')}`);
  const settings: RelaySettings = {
    ...DEFAULT_SETTINGS,
    ...input,
    peers: input.peers ?? [],
    alarms: { ...DEFAULT_SETTINGS.alarms, ...input.alarms },
    api: { ...DEFAULT_SETTINGS.api, ...input.api },
  };
  return validateSettings(settings);
}

export function validateSettings(settings: RelaySettings): RelaySettings {
  const fail = (key: string, message: string): never => {
    throw new RelaySettingsError(`context ${CONTEXT_KEY}.${key}: ${message}`);
  };
  if (settings.peers.length === 0) fail('peers', 'name at least one peer');
  const parsed = configSchema.safeParse({
    // Placeholders stand in for what the stack creates; only the deployment's own values are checked here.
    journal: 's3://placeholder-bucket/prefix',
    queue: 'https://sqs.us-east-1.amazonaws.com/123456789012/placeholder.fifo',
    peers: settings.peers.map((peer) => ({
      ...peer,
      pingIntervalSeconds: peer.pingIntervalSeconds ?? settings.pingIntervalSeconds,
    })),
    vfs: settings.vfs,
    replicationUser: settings.replicationUser,
    autoPlay: settings.autoPlay,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    fail(issue.path.map(String).join('.'), issue.message);
  }
  checkInteger(settings.pingIntervalSeconds, 1, 86_400, 'pingIntervalSeconds', fail);
  checkInteger(settings.alarms.offlinePings, 1, 100, 'alarms.offlinePings', fail);
  checkInteger(settings.alarms.oldestPendingMinutes, 1, 7 * 24 * 60, 'alarms.oldestPendingMinutes', fail);
  checkInteger(settings.api.throttlingRateLimit, 1, 10_000, 'api.throttlingRateLimit', fail);
  checkInteger(settings.api.throttlingBurstLimit, 1, 5_000, 'api.throttlingBurstLimit', fail);
  if (settings.parkedRetentionDays !== undefined) {
    checkInteger(settings.parkedRetentionDays, 1, 3650, 'parkedRetentionDays', fail);
  }
  if (settings.alarmEmail !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(settings.alarmEmail)) {
    fail('alarmEmail', `"${settings.alarmEmail}" is not an e-mail address`);
  }
  if (
    !/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(settings.journalPrefix) ||
    /(^|\/)\.\.?(\/|$)/.test(settings.journalPrefix)
  ) {
    fail('journalPrefix', 'use /-separated segments of letters, digits, ".", "_" or "-" (no leading or trailing /)');
  }
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(settings.serviceName))
    fail('serviceName', 'use 1-64 letters, digits, ".", "_" or "-"');
  if (settings.secretArn !== undefined && !/^arn:aws[a-z-]*:secretsmanager:/.test(settings.secretArn)) {
    fail('secretArn', 'must be a Secrets Manager secret ARN');
  }
  return settings;
}

function checkInteger(
  value: number,
  min: number,
  max: number,
  key: string,
  fail: (key: string, message: string) => never,
): void {
  if (!Number.isInteger(value) || value < min || value > max) fail(key, `must be an integer from ${min} to ${max}`);
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
