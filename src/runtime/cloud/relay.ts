import type { S3ClientConfig } from '@aws-sdk/client-s3';
import type { SQSClient, SQSClientConfig } from '@aws-sdk/client-sqs';
import { PinoLogger } from '../../adapters/log/pino-logger.js';
import { nodeSha256OfText } from '../../adapters/node-digest.js';
import { S3JournalStore } from '../../adapters/s3-journal/store.js';
import { SqsDoorbell } from '../../adapters/sqs-doorbell/doorbell.js';
import { deleteMessages, queueDepth, sqsClientFor } from '../../adapters/sqs-doorbell/queue.js';
import { type SqsReplayHandler, sqsReplayHandler } from '../../adapters/sqs-doorbell/replay-handler.js';
import { createApp, type RelayApp } from '../../api/app.js';
import { type ApiDeps, DEFAULT_LIMITS, relayUploadTarget } from '../../api/deps.js';
import { RateLimiter } from '../../api/rate-limit.js';
import { UploadKeys } from '../../api/upload-keys.js';
import type { RelayConfig } from '../../config/load.js';
import { BODY_MEMORY_BYTES, ByteBudget } from '../../core/byte-budget.js';
import { DeleteGuard } from '../../core/delete-guard.js';
import type { Doorbell } from '../../core/doorbell.js';
import { ReplicaEchoFilter } from '../../core/echo.js';
import { echoRecordingPeers } from '../../core/echo-peer.js';
import type { JournalEntry } from '../../core/entry.js';
import { HeldChanges } from '../../core/held-changes.js';
import { ChangeIntake, type IgnoredReason } from '../../core/intake.js';
import { guardedRemovals } from '../../core/jobs/job-entries.js';
import { JobScope } from '../../core/jobs/scope.js';
import { JournalView } from '../../core/journal-view.js';
import type { Logger } from '../../core/logger.js';
import { OperatorActions } from '../../core/operator.js';
import type { Peer, PeerMonitor } from '../../core/peer.js';
import type { ReplayReport } from '../../core/replayer.js';
import { StampClock } from '../../core/stamp.js';
import { Topology } from '../../core/topology.js';
import { UploadExpiry } from '../../core/upload-expiry.js';
import { convergenceParts } from '../convergence.js';
import { nodeChangeRoutes } from '../node-change-routes.js';
import { nodeRequestBodies } from '../node-request-bodies.js';
import { type NodeRoute, nodeUploadRoute } from '../node-upload-route.js';
import { webDavPeers } from '../webdav-peers.js';
import { S3DeleteWindows } from './delete-windows.js';
import { S3ReplicaRecords } from './echo-records.js';
import { S3EntryClaims, type S3EntryClaimsOptions } from './entry-claims.js';
import { checkCloudConfig } from './env.js';
import { CloudJobs } from './jobs/cloud-jobs.js';
import { S3Objects } from './jobs/s3-objects.js';
import { isWaiting, S3PeerStateStore } from './peer-state.js';
import { withPurgeNotes } from './purge-notes.js';
import { CloudReplayWorker } from './replay-worker.js';
import { SharedPeerHealth } from './shared-health.js';
import { CloudSweeper, type CloudSweeperOptions } from './sweep.js';
import { S3WaitList } from './wait-list.js';

/** A presigned PUT carries the body in one request: S3 takes at most 5 GiB that way. */
export const MAX_PRESIGNED_UPLOAD_BYTES = 5 * 1024 ** 3;

export interface CloudOptions {
  logger?: Logger;
  /** S3 client settings (endpoint, credentials, region); default: the standard AWS SDK environment. */
  s3?: S3ClientConfig;
  /** SQS client settings; default: the standard AWS SDK environment, region from the queue URL. */
  sqs?: SQSClientConfig;
  /** MessageGroupIds per lane (default 16; see src/adapters/sqs-doorbell/groups.ts). */
  groupsPerLane?: number;
  /** How long a process trusts an ONLINE peer state it read from S3 (default 5 s). */
  onlineCacheMs?: number;
  sweep?: Pick<CloudSweeperOptions, 'redriveAfterSeconds' | 'maxRedrive' | 'onlineDriveSeconds'>;
  /** See SqsReplayHandlerOptions.acknowledgeAfterMs (tests shorten it). */
  acknowledgeAfterMs?: number;
  /** Told about every replay attempt made in this process. */
  onReplay?: (report: ReplayReport) => void;
  /**
   * Bodies larger than one presigned PUT allows (`presignedMaxBytes`, default 5 GiB) stream through this process
   * into S3 (multipart) instead. Only for a long-running process (`vfs-relay serve`); the API Lambda refuses them.
   */
  bodiesThroughRelay?: boolean;
  /** The largest body sent to a presigned URL (S3's single-PUT limit; lower it in tests). */
  presignedMaxBytes?: number;
  /** Peer adapters by peer name; default: a WebDAV peer for each configured peer. */
  peers?: ReadonlyMap<string, Peer>;
  /**
   * A deadline for each probe of a peer as a whole (operator pings, autoPlay), in ms; default: the replay's request
   * timeout per request. The API function sets API_PROBE_TIMEOUT_MS.
   */
  probeTimeoutMs?: number;
  /** Told about every change that was not journaled (metrics). */
  onIgnored?: (reason: IgnoredReason, node: string | undefined) => void;
  /** Told about every upload the sweep drops because its body stopped moving (metrics). */
  onUploadExpired?: (change: { id: string; node: string | undefined }) => void;
  /** Entry claims' time to live and clock slack (see S3EntryClaimsOptions; tests shorten them). */
  claims?: Pick<S3EntryClaimsOptions, 'ttlMs' | 'clockSlackMs'>;
  /** The address `vfs-relay serve` listens on, for links without publicUrl (see ApiDeps.listenUrl). */
  listenUrl?: () => string | undefined;
  /** The delete guard's clock, epoch ms (tests drive its window; default: the system clock). */
  deleteGuardNow?: () => number;
}

/** Everything one cloud process needs; each Lambda function builds one per cold start and uses its part. */
export interface CloudRelay {
  config: RelayConfig;
  store: S3JournalStore;
  sqs: SQSClient;
  doorbell: SqsDoorbell;
  clock: StampClock;
  health: SharedPeerHealth;
  monitor: PeerMonitor;
  intake: ChangeIntake;
  view: JournalView;
  /** The HTTP API (the api Lambda, or Node in `vfs-relay serve`). */
  app: RelayApp;
  /** What a Node server answers before the app (`vfs-relay serve`; see node-upload-route.ts). */
  nodeRoutes: readonly NodeRoute[];
  worker: CloudReplayWorker;
  /** The replay Lambda's handler: SQS batch in, batch item failures out. */
  replayHandler: SqsReplayHandler;
  /** The ping Lambda's duty: ping down peers, re-drive, log the backlog. */
  sweeper: CloudSweeper;
  /** Verify and resync jobs: the API's, the replay workers' gate, and the slices the ping function runs. */
  jobs: CloudJobs;
  /** What the delete guard holds (release, discard), and the guard with its windows in S3. */
  held: HeldChanges;
  deleteGuard: DeleteGuard;
  adminToken: string;
  close(): Promise<void>;
}

/**
 * Composes cloud mode: S3 journal, SQS FIFO doorbell, WebDAV peers, peer health and wait lists in S3 beside the
 * journal, and the same core (intake, views, operator actions) and Hono app as the embedded relay. Nothing here
 * holds state that matters across processes. Creating it makes no request (cheap at a Lambda cold start).
 */
export function createCloudRelay(config: RelayConfig, options: CloudOptions = {}): CloudRelay {
  checkCloudConfig(config);
  const queueUrl = config.queue!;
  const logger = options.logger ?? new PinoLogger();
  const store = S3JournalStore.fromUrl(config.journal, options.s3 ?? {}, {
    onWarning: (w) => logger.warn(w.message, { path: w.path }),
  });
  const sqs = sqsClientFor(queueUrl, options.sqs);
  // Echo records are shared through S3: the replay function records each replica before sending it, the API
  // function (another process) looks the node's report up. See src/core/echo.ts.
  const nodeOfPeer = new Map(config.peers.filter((p) => p.node).map((p) => [p.name, p.node!]));
  const echo = new ReplicaEchoFilter({
    nodeOfPeer,
    records: new S3ReplicaRecords(store.client, store.bucket, store.prefix, { logger }),
    windowMs: config.echoWindowSeconds * 1000,
  });
  const convergence = convergenceParts(config, logger);
  let jobs: CloudJobs | undefined;
  // Job entries go to the jobs' writer before they could reach the echo recorder: one a job skips is no replica.
  const peers = convergence.wrap(
    echoRecordingPeers(
      options.peers ?? webDavPeers(config, logger, { probeTimeoutMs: options.probeTimeoutMs }),
      nodeOfPeer,
      echo,
    ),
    {
      refuse: (entry) => jobs!.refuse(entry),
      record: (entry, result) => jobs!.record(entry, result),
    },
  );
  const health = new SharedPeerHealth({
    peers,
    store: new S3PeerStateStore(store.client, store.bucket, store.prefix),
    logger,
    onlineCacheMs: options.onlineCacheMs,
  });
  const waitList = new S3WaitList(store.client, store.bucket, store.prefix);
  const claims = new S3EntryClaims(store.client, store.bucket, store.prefix, { logger, ...options.claims });
  const doorbell = new SqsDoorbell({
    client: sqs,
    queueUrl,
    resolve: (ref) => store.read(ref),
    groupsPerLane: options.groupsPerLane ?? config.cloud.groupsPerLane,
    logger,
  });
  const redrive = (refs: readonly { lane: string; id: string }[], cause: string) => doorbell.redrive(refs, cause);
  const sweeper = new CloudSweeper({
    store,
    health,
    peers: config.peers,
    redrive,
    queueDepth: () => queueDepth(sqs, queueUrl),
    waitList,
    claims,
    logger,
    redriveAfterSeconds: config.cloud.redriveAfterSeconds,
    maxRedrive: config.cloud.maxRedrivePerSweep,
    expireUploads: (awaiting) => expiry.expireFound(awaiting),
    ...options.sweep,
  });
  const monitor: PeerMonitor = {
    state: (peer) => health.state(peer),
    ping: async (peer) => {
      const state = await health.ping(peer);
      if (state.status === 'ONLINE') await sweeper.drive(peer, `ping.${Date.now()}`);
      return state;
    },
  };
  const clock = new StampClock();
  // Any API process may take a node's next delete: the windows are shared, in S3 (see S3DeleteWindows).
  const deleteGuard = new DeleteGuard(
    config.deleteGuard,
    new S3DeleteWindows(store.client, store.bucket, store.prefix),
    options.deleteGuardNow,
  );
  // Operator rings are deliberate: each is a fresh re-drive, never deduplicated against an earlier ring.
  const operatorDoorbell = doorbell.redriving(() => `op.${Date.now()}`);
  // What operators and jobs drop leaves a note for the replay functions (see withPurgeNotes).
  const dropping = withPurgeNotes(store, store.client, store.bucket, store.prefix);
  const held = new HeldChanges({ store: dropping, doorbell: operatorDoorbell, guard: deleteGuard, logger });
  jobs = new CloudJobs({
    s3: new S3Objects(store.client, store.bucket, store.prefix),
    store: dropping,
    ring: (entries) => doorbell.ring(entries),
    redrive: (entries) => doorbell.redrive(entries, `held.${Date.now()}`).then(() => undefined),
    readers: convergence.readers,
    peers: config.peers.map((p) => p.name),
    scope: new JobScope(config.vfs),
    clock,
    removals: guardedRemovals(deleteGuard),
    logger,
  });
  const intake = new ChangeIntake({
    store,
    doorbell: config.autoPlay ? autoPlay(doorbell, health, monitor) : doorbell,
    redrive: doorbell.redriving(() => `released.${Date.now()}`),
    clock,
    topology: new Topology(config.vfs, config.peers),
    replicationUser: config.replicationUser,
    echo,
    onIgnored: options.onIgnored,
    maxUnfinishedUploads: config.limits.maxUnfinishedUploadsPerNode,
    uploadLifetimeSeconds: config.limits.uploadMaxLifetimeSeconds,
    touches: { record: (change) => jobs!.recordTouch(change) },
    deleteGuard,
    logger,
  });
  const expiry = new UploadExpiry({
    intake,
    idleSeconds: config.limits.uploadIdleExpirySeconds,
    lifetimeSeconds: config.limits.uploadMaxLifetimeSeconds,
    logger,
    onExpired: options.onUploadExpired,
  });
  const view = new JournalView(store);
  const operator = new OperatorActions(dropping, operatorDoorbell, (id) => intake.find(id), held);
  const adminToken = config.auth.adminToken!;
  const presignedMaxBytes = options.presignedMaxBytes ?? MAX_PRESIGNED_UPLOAD_BYTES;
  const apiDeps: ApiDeps = {
    intake,
    view,
    operator,
    held,
    monitor,
    jobs,
    peers: config.peers.map((p) => ({ name: p.name, url: p.url, node: p.node })),
    echoes: () => echo.counts(),
    tokens: { adminToken, nodeTokens: config.auth.nodeTokens, digest: nodeSha256OfText },
    // Bodies go straight to S3 (presigned PUT): never through Lambda's 6 MB payload limit. Larger than one PUT
    // allows: through `vfs-relay serve`, which streams them to S3 in parts (lib-storage), when it is the API.
    uploadTarget: (entry, relayUrl) =>
      (entry.size ?? 0) > presignedMaxBytes ? relayUploadTarget(entry, relayUrl) : store.uploadTarget(entry),
    publicUrl: config.publicUrl,
    // One set of upload keys for the app and the Node server's own routes (node-change-routes.ts).
    uploadKeys: new UploadKeys(adminToken),
    rateLimiter: new RateLimiter({
      perSecond: config.limits.nodeRequestsPerSecond,
      burst: config.limits.nodeRequestBurst,
    }),
    listenUrl: options.listenUrl,
    requestBodies: nodeRequestBodies,
    // Configuration documents read whole, many at once under `vfs-relay serve`.
    bodyMemory: new ByteBudget(BODY_MEMORY_BYTES),
    limits: {
      ...DEFAULT_LIMITS,
      maxUploadBytes: options.bodiesThroughRelay
        ? config.limits.maxUploadBytes
        : Math.min(config.limits.maxUploadBytes, presignedMaxBytes),
    },
    logger,
  };
  const app = createApp(apiDeps);
  const worker = new CloudReplayWorker({
    store,
    peers,
    health,
    waitList,
    claims,
    redrive,
    logger,
    onReplay: options.onReplay,
  });
  return {
    config,
    store,
    sqs,
    doorbell,
    clock,
    health,
    monitor,
    intake,
    view,
    app,
    nodeRoutes: [nodeUploadRoute(apiDeps), nodeChangeRoutes(apiDeps)],
    worker,
    replayHandler: sqsReplayHandler(worker, logger, {
      // A replay that ends while the rest of its batch runs on (a long upload) frees its FIFO group at once.
      acknowledge: (records) =>
        deleteMessages(
          sqs,
          queueUrl,
          records.map((r) => r.receiptHandle),
          logger,
        ),
      ...(options.acknowledgeAfterMs !== undefined && { acknowledgeAfterMs: options.acknowledgeAfterMs }),
    }),
    sweeper,
    jobs,
    held,
    deleteGuard,
    adminToken,
    close: async () => {
      await Promise.all([...peers.values()].map((p) => p.close()));
      await convergence.close();
      await store.close();
      sqs.destroy();
    },
  };
}

/**
 * The API function's deadline for a probe: an operator's `POST /v1/peers/{name}/ping`, and autoPlay inside a node's
 * request, must answer before API Gateway gives up at 29 s (a peer that accepts the connection and never answers
 * would hold each for the replay's request timeout, 60 s by default, and the caller would get a 503 from the
 * gateway while the function went on).
 */
export const API_PROBE_TIMEOUT_MS = 15_000;

/** autoPlay (CONTRACT): a new change for a peer that is not ONLINE pings it at once (and drains if it answers). */
export function autoPlay(inner: Doorbell, health: SharedPeerHealth, monitor: PeerMonitor): Doorbell {
  return {
    ring: async (refs) => {
      await inner.ring(refs);
      const peers = new Set(refs.map((r) => (r as Partial<JournalEntry>).peer).filter((p) => p !== undefined));
      for (const peer of peers) {
        if ((await health.status(peer)) === 'ONLINE') continue;
        // Not a peer that asked to wait (Retry-After): a probe now would end its wait with the first new change.
        if (isWaiting(await health.state(peer), Date.now())) continue;
        await monitor.ping(peer);
      }
    },
  };
}
