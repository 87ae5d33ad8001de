import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { S3JournalStore } from '../../adapters/s3-journal/store.js';
import { SqsDoorbell } from '../../adapters/sqs-doorbell/doorbell.js';
import { createApp, type RelayApp } from '../../api/app.js';
import { DEFAULT_LIMITS } from '../../api/deps.js';
import { RateLimiter } from '../../api/rate-limit.js';
import { parseConfig, type RelayConfig } from '../../config/load.js';
import { parseS3Url } from '../../config/locations.js';
import { DeleteGuard } from '../../core/delete-guard.js';
import { HeldChanges } from '../../core/held-changes.js';
import { ChangeIntake } from '../../core/intake.js';
import { JournalView } from '../../core/journal-view.js';
import { jsonErrorWhere } from '../../core/json-error.js';
import type { Logger } from '../../core/logger.js';
import { OperatorActions } from '../../core/operator.js';
import type { PeerMonitor } from '../../core/peer.js';
import { StampClock } from '../../core/stamp.js';
import { Topology } from '../../core/topology.js';
import { S3DeleteWindows } from '../cloud/delete-windows.js';
import { CONFIG_ENV, checkCloudConfig } from '../cloud/env.js';
import { S3Objects } from '../cloud/jobs/s3-objects.js';
import { CloudTouchRecorder } from '../cloud/jobs/touch-recorder.js';
import { S3PeerStateStore } from '../cloud/peer-state.js';
import { withPurgeNotes } from '../cloud/purge-notes.js';

/** A presigned PUT carries the body in one request: S3 takes at most 5 GiB that way. */
const MAX_PRESIGNED_UPLOAD_BYTES = 5 * 1024 ** 3;

/** The runtime's env bindings (Workers `env`, Deno.env as an object): strings only are read. */
export type EdgeEnv = Record<string, unknown>;

export interface EdgeRelay {
  config: RelayConfig;
  app: RelayApp;
}

/**
 * The relay's API on a web-standard runtime (functions/edge.ts): the cloud journal in any S3-compatible bucket,
 * the SQS doorbell over HTTPS, both through the AWS SDK on fetch. API only: no replay worker, no sweep, no pings
 * (they need WebDAV over Node sockets): the replay function or `vfs-relay serve` in cloud mode replays what this
 * journals, and the ping function keeps peer states, which this reads.
 */
export function createEdgeRelay(env: EdgeEnv, logger: Logger = consoleLogger): EdgeRelay {
  const vars = strings(env);
  const text = vars[CONFIG_ENV];
  if (!text) throw new EdgeConfigError(`${CONFIG_ENV} is not set (the relay's configuration as JSON)`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new EdgeConfigError(`${CONFIG_ENV} is not valid JSON (${jsonErrorWhere(text)})`);
  }
  const config = parseConfig(json, vars, CONFIG_ENV);
  checkCloudConfig(config);
  const region = vars.AWS_REGION ?? vars.AWS_DEFAULT_REGION ?? 'us-east-1';
  const credentials =
    vars.AWS_ACCESS_KEY_ID && vars.AWS_SECRET_ACCESS_KEY
      ? {
          accessKeyId: vars.AWS_ACCESS_KEY_ID,
          secretAccessKey: vars.AWS_SECRET_ACCESS_KEY,
          ...(vars.AWS_SESSION_TOKEN && { sessionToken: vars.AWS_SESSION_TOKEN }),
        }
      : undefined;
  const s3Endpoint = vars.AWS_ENDPOINT_URL_S3 ?? vars.AWS_ENDPOINT_URL;
  const sqsEndpoint = vars.AWS_ENDPOINT_URL_SQS ?? vars.AWS_ENDPOINT_URL;
  const s3 = new S3Client({
    region,
    ...(credentials && { credentials }),
    // R2, MinIO and moto answer path-style requests; `<bucket>.<host>` rarely resolves there.
    ...(s3Endpoint && { endpoint: s3Endpoint, forcePathStyle: true }),
  });
  const sqs = new SQSClient({
    region,
    ...(credentials && { credentials }),
    ...(sqsEndpoint && { endpoint: sqsEndpoint }),
  });
  const { bucket, prefix } = parseS3Url(config.journal);
  const store = new S3JournalStore(s3, bucket, prefix, {
    onWarning: (w) => logger.warn(w.message, { path: w.path }),
  });
  const doorbell = new SqsDoorbell({
    client: sqs,
    queueUrl: config.queue!,
    resolve: (ref) => store.read(ref),
    groupsPerLane: config.cloud.groupsPerLane,
    logger,
  });
  const clock = new StampClock();
  // The delete guard's windows are the cloud's (S3, conditional writes): the edge, the api function and `serve`
  // count one node's deletes together.
  const deleteGuard = new DeleteGuard(config.deleteGuard, new S3DeleteWindows(s3, bucket, store.prefix));
  const operatorDoorbell = doorbell.redriving(() => `op.${Date.now()}`);
  // What operators drop leaves a note for the replay functions (see withPurgeNotes).
  const dropping = withPurgeNotes(store, s3, bucket, store.prefix);
  const held = new HeldChanges({ store: dropping, doorbell: operatorDoorbell, guard: deleteGuard, logger });
  // Resyncs run elsewhere (the ping function, `serve`), but live changes taken here must reach them too.
  const touches = new CloudTouchRecorder(new S3Objects(s3, bucket, store.prefix), clock);
  const intake = new ChangeIntake({
    store,
    doorbell,
    redrive: doorbell.redriving(() => `released.${Date.now()}`),
    clock,
    topology: new Topology(config.vfs, config.peers),
    replicationUser: config.replicationUser,
    maxUnfinishedUploads: config.limits.maxUnfinishedUploadsPerNode,
    uploadLifetimeSeconds: config.limits.uploadMaxLifetimeSeconds,
    touches,
    deleteGuard,
    logger,
  });
  const peerStates = new S3PeerStateStore(s3, bucket, store.prefix);
  const known = new Set(config.peers.map((p) => p.name));
  const state: PeerMonitor['state'] = async (peer) => {
    if (!known.has(peer)) return { status: 'OFFLINE', lastError: 'unknown peer' };
    return (await peerStates.read(peer)).state ?? { status: 'ONLINE' };
  };
  const app = createApp({
    intake,
    view: new JournalView(store),
    operator: new OperatorActions(dropping, operatorDoorbell, (id) => intake.find(id), held),
    held,
    // A ping from here would need WebDAV over Node sockets: the ping function probes; this reports its findings.
    monitor: { state, ping: state },
    peers: config.peers.map((p) => ({ name: p.name, url: p.url, node: p.node })),
    tokens: { adminToken: config.auth.adminToken!, nodeTokens: config.auth.nodeTokens },
    uploadTarget: (entry) => store.uploadTarget(entry),
    // Bodies never pass through the edge: no POST /v1/uploads (the agent falls back to presigned PUTs on 404).
    oneRequestUploads: false,
    publicUrl: config.publicUrl,
    rateLimiter: new RateLimiter({
      perSecond: config.limits.nodeRequestsPerSecond,
      burst: config.limits.nodeRequestBurst,
    }),
    limits: { ...DEFAULT_LIMITS, maxUploadBytes: Math.min(config.limits.maxUploadBytes, MAX_PRESIGNED_UPLOAD_BYTES) },
    logger,
  });
  return { config, app };
}

export class EdgeConfigError extends Error {
  readonly code = 'EDGE_CONFIG';
  constructor(message: string) {
    super(`config: ${message}`);
    this.name = 'EdgeConfigError';
  }
}

function strings(env: EdgeEnv): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(env ?? {})) if (typeof value === 'string') out[key] = value;
  return out;
}

/** One JSON line per event on the runtime's console (Workers Logs, Deno Deploy logs). Never a secret: see mask.ts. */
const consoleLogger: Logger = {
  debug: () => {},
  info: (message, fields) => console.log(JSON.stringify({ level: 'info', message, ...fields })),
  warn: (message, fields) => console.warn(JSON.stringify({ level: 'warn', message, ...fields })),
  error: (message, fields) =>
    console.error(
      JSON.stringify({
        level: 'error',
        message,
        ...fields,
        ...(fields?.error instanceof Error && { error: fields.error.message }),
      }),
    ),
};
