import { randomBytes } from 'node:crypto';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FsJobStore } from '../adapters/fs-jobs/store.js';
import type { LoadProgress } from '../adapters/fs-journal/recovery.js';
import { FsJournalStore, type JournalLock } from '../adapters/fs-journal/store.js';
import { PinoLogger } from '../adapters/log/pino-logger.js';
import { nodeSha256Hex, nodeSha256OfText } from '../adapters/node-digest.js';
import { createApp, type RelayApp } from '../api/app.js';
import { type ApiDeps, DEFAULT_LIMITS, relayUploadTarget } from '../api/deps.js';
import { RateLimiter } from '../api/rate-limit.js';
import { UploadKeys } from '../api/upload-keys.js';
import { ConfigError, type RelayConfig } from '../config/load.js';
import { BODY_MEMORY_BYTES, ByteBudget } from '../core/byte-budget.js';
import { DeleteGuard } from '../core/delete-guard.js';
import type { Doorbell } from '../core/doorbell.js';
import { MemoryReplicaRecords, ReplicaEchoFilter } from '../core/echo.js';
import { echoRecordingPeers } from '../core/echo-peer.js';
import { HeldChanges } from '../core/held-changes.js';
import { ChangeIntake } from '../core/intake.js';
import { guardedRemovals } from '../core/jobs/job-entries.js';
import type { JobGate } from '../core/jobs/job-peer.js';
import { JobRunner } from '../core/jobs/job-runner.js';
import { JobScope } from '../core/jobs/scope.js';
import { JournalView } from '../core/journal-view.js';
import type { Logger } from '../core/logger.js';
import { OperatorActions } from '../core/operator.js';
import { PeerHealth } from '../core/peer-health.js';
import { Pinger } from '../core/pinger.js';
import { Replayer, type ReplayReport } from '../core/replayer.js';
import { StampClock } from '../core/stamp.js';
import { Topology } from '../core/topology.js';
import { UploadExpiry } from '../core/upload-expiry.js';
import { convergenceParts } from './convergence.js';
import { DELETE_WINDOWS_FILE, FileDeleteWindows } from './delete-windows-file.js';
import { listenOptions, type RunningServer, startHttpServer } from './http-server.js';
import { warnWithoutPublicUrl } from './listen-check.js';
import { nodeChangeRoutes } from './node-change-routes.js';
import { nodeRequestBodies } from './node-request-bodies.js';
import { nodeUploadRoute } from './node-upload-route.js';
import { OperatorSurfaces } from './operator-surfaces.js';
import { startingAnswer } from './starting.js';
import { webDavPeers } from './webdav-peers.js';

export interface EmbeddedRelay {
  /** Base URL the API listens on. */
  url: string;
  app: RelayApp;
  store: FsJournalStore;
  view: JournalView;
  health: PeerHealth;
  replayer: Replayer;
  /** Verify and resync jobs. */
  jobs: JobRunner;
  /** The admin token in force (configured or generated). */
  adminToken: string;
  /** Drops uploads whose body stopped moving (run on a timer; `expired` counts them). */
  expiry: UploadExpiry;
  intake: ChangeIntake;
  /** What the delete guard holds, and the guard itself. */
  held: HeldChanges;
  deleteGuard: DeleteGuard;
  close(): Promise<void>;
}

export interface EmbeddedOptions {
  logger?: Logger;
  /** Override the doorbell (tests of ingestion alone): nothing is replayed then. */
  doorbell?: Doorbell;
  /** Told about every replay attempt. */
  onReplay?: (report: ReplayReport) => void;
  /** The clock of change times, upload expiry and the delete guard's window (tests drive it; default: the system clock). */
  now?: () => Date;
  /** How start-up reports its progress through the journal (default: a log line every 100,000 entries). */
  loadProgress?: LoadProgress;
}

/**
 * Builds and starts the whole embedded relay: filesystem journal, API on Node, peers. It listens first, with a
 * stand-in that answers `/livez` and asks everything else to come back (503 STARTING), while it loads the
 * journal (seconds per 100,000 entries): a health check sees a live process, nodes retry, and a port already
 * taken stops it before the load rather than after.
 */
export async function startEmbeddedRelay(config: RelayConfig, options: EmbeddedOptions = {}): Promise<EmbeddedRelay> {
  const logger = options.logger ?? new PinoLogger();
  if (config.journal.startsWith('s3://')) {
    throw new ConfigError(
      'config journal: an s3:// journal runs in cloud mode (vfs-relay serve picks it when "queue" is set)',
    );
  }
  const root = resolve(config.journal);
  // The lock first: a second relay on this journal is told who holds it (JOURNAL_LOCKED), not that the port is taken.
  const lock = await FsJournalStore.lock(root);
  let server: RunningServer;
  try {
    server = await startHttpServer({ fetch: startingAnswer, ...listenOptions(config, logger) });
  } catch (error) {
    await lock.release();
    throw error;
  }
  const started = performance.now();
  logger.info('relay loading its journal', { url: server.url, journal: root });
  // What is open so far, closed in reverse if start-up fails half-way (the lock goes with the store).
  const opened: (() => unknown)[] = [() => server.close(0)];
  try {
    const relay = await openRelay(config, options, logger, { server, lock, opened });
    logger.info('relay listening', {
      url: server.url,
      journal: resolve(config.journal),
      peers: config.peers.map((p) => p.name),
      config: config.source,
      startSeconds: Math.round(performance.now() - started) / 1000,
    });
    return relay;
  } catch (error) {
    // The listener first (no request reaches a closing journal), then the rest in the reverse of their opening.
    for (const close of [opened[0]!, ...opened.slice(1).reverse()]) {
      await Promise.resolve()
        .then(close)
        .catch((cause: unknown) => logger.warn('could not close a part of the relay that failed to start', { cause }));
    }
    throw error;
  }
}

/**
 * The journal, the replayer and the API behind `server`, which serves the API from the moment everything is open.
 * Each part that needs closing is added to `opened` as it opens.
 */
async function openRelay(
  config: RelayConfig,
  options: EmbeddedOptions,
  logger: Logger,
  { server, lock, opened }: { server: RunningServer; lock: JournalLock; opened: (() => unknown)[] },
): Promise<EmbeddedRelay> {
  const root = resolve(config.journal);
  // One memory budget for every request body held whole: staged small bodies and one-request uploads alike.
  const bodyMemory = new ByteBudget(BODY_MEMORY_BYTES);
  // A failed open releases the lock itself.
  const store = await FsJournalStore.open(root, (w) => logger.warn(w.message, { path: w.path }), {
    bodyMemory,
    lock,
    onLoadProgress: options.loadProgress ?? {
      report: (entries) => logger.info('relay loading its journal', { entries }),
    },
  });
  opened.push(() => store.close());
  const adminToken = config.auth.adminToken ?? (await generatedAdminToken(root, logger));
  const clock = new StampClock();
  clock.seed(await store.newestId());

  // One process: the API and the replayer share one filter, its records in memory.
  const nodeOfPeer = new Map(config.peers.filter((p) => p.node).map((p) => [p.name, p.node!]));
  const echo = new ReplicaEchoFilter({
    nodeOfPeer,
    records: new MemoryReplicaRecords(),
    windowMs: config.echoWindowSeconds * 1000,
  });
  const surfaces = new OperatorSurfaces(
    config.peers.map((p) => p.name),
    { journalFailure: () => store.failure() },
  );
  const convergence = convergenceParts(config, logger);
  let jobs: JobRunner | undefined;
  // The replayer asks the jobs about job entries; the jobs need the replayer as their doorbell. Job entries never
  // reach the echo recorder: one the job skips must not be taken for a replica.
  const gate: JobGate = { refuse: (entry) => jobs!.refuse(entry), record: (entry, r) => jobs!.record(entry, r) };
  opened.push(() => convergence.close());
  const peers = convergence.wrap(echoRecordingPeers(webDavPeers(config, logger), nodeOfPeer, echo), gate);
  opened.push(() => Promise.all([...peers.values()].map((p) => p.close())));
  const health = new PeerHealth(peers, logger);
  const topology = new Topology(config.vfs, config.peers);
  let pinger: Pinger | undefined;
  const replayer = new Replayer({
    store,
    peers,
    health,
    logger,
    concurrency: config.replay.concurrency,
    onReplay: (report) => {
      surfaces.record(report);
      options.onReplay?.(report);
    },
    onEntryForDownPeer: config.autoPlay ? (peer) => void pinger?.ping(peer) : undefined,
  });
  pinger = new Pinger(health, replayer, logger);
  opened.push(() => replayer.stop());
  opened.push(() => pinger?.stop());
  const doorbell: Doorbell = options.doorbell ?? replayer;
  // Windows in memory (one process takes every delete), kept in <journal>/delete-guard.json for the next start. An
  // origin whose journal still holds deletes HELD by the window rule is tripped again before the API listens
  // (docs/delete-guard.md).
  const guardClock = () => (options.now?.() ?? new Date()).getTime();
  const deleteWindows = await FileDeleteWindows.open(join(root, DELETE_WINDOWS_FILE), {
    settings: config.deleteGuard,
    now: guardClock,
    logger,
  });
  opened.push(() => deleteWindows.flush());
  const deleteGuard = new DeleteGuard(config.deleteGuard, deleteWindows, guardClock);
  const held = new HeldChanges({ store, doorbell, guard: deleteGuard, logger });
  await held.restoreTrips();
  const intake = new ChangeIntake({
    store,
    doorbell,
    clock,
    topology,
    replicationUser: config.replicationUser,
    echo,
    maxUnfinishedUploads: config.limits.maxUnfinishedUploadsPerNode,
    uploadLifetimeSeconds: config.limits.uploadMaxLifetimeSeconds,
    ringInIdOrder: true,
    bodyMemory,
    now: options.now,
    touches: { record: (change) => jobs!.recordTouch(change) },
    deleteGuard,
    sha256: nodeSha256Hex,
    logger,
  });
  jobs = new JobRunner({
    jobs: new FsJobStore(root),
    store,
    doorbell,
    readers: convergence.readers,
    peers: config.peers.map((p) => p.name),
    scope: new JobScope(config.vfs),
    nextId: () => clock.next(),
    removals: guardedRemovals(deleteGuard),
    logger,
  });
  opened.push(() => jobs!.close());
  const expiry = new UploadExpiry({
    intake,
    idleSeconds: config.limits.uploadIdleExpirySeconds,
    lifetimeSeconds: config.limits.uploadMaxLifetimeSeconds,
    now: guardClock,
    logger,
    onExpired: (change) => surfaces.uploadExpired(change),
  });
  const view = new JournalView(store);
  const operator = new OperatorActions(store, doorbell, (id) => intake.find(id), held);
  const tokens = { adminToken, nodeTokens: config.auth.nodeTokens, digest: nodeSha256OfText };
  const apiDeps: ApiDeps = {
    intake,
    journalFailure: () => store.failure?.(),
    view,
    operator,
    held,
    monitor: pinger,
    jobs,
    peers: config.peers.map((p) => ({ name: p.name, url: p.url, node: p.node })),
    echoes: () => echo.counts(),
    tokens,
    uploadTarget: relayUploadTarget,
    publicUrl: config.publicUrl,
    // One set of upload keys for the app and the Node server's own routes (node-change-routes.ts).
    uploadKeys: new UploadKeys(adminToken),
    rateLimiter: new RateLimiter({
      perSecond: config.limits.nodeRequestsPerSecond,
      burst: config.limits.nodeRequestBurst,
    }),
    listenUrl: () => server.url,
    requestBodies: nodeRequestBodies,
    bodyMemory,
    limits: { ...DEFAULT_LIMITS, maxUploadBytes: config.limits.maxUploadBytes },
    logger,
  };
  const app = createApp(apiDeps);
  // The web console, /metrics and /v1/stats/throughput (CONTRACT: operator surfaces).
  surfaces.mount(app, tokens);

  // Jobs a restart interrupted are resumed or failed before the API can start new ones.
  await jobs.start();
  server.serve({ fetch: app.fetch, routes: [nodeUploadRoute(apiDeps), nodeChangeRoutes(apiDeps)] });
  if (doorbell === replayer) {
    // Everything PENDING in the journal resumes: the in-process doorbell is rebuilt from the journal.
    await replayer.sweep();
    pinger.start(config.peers.map((p) => ({ peer: p.name, intervalSeconds: p.pingIntervalSeconds })));
  }
  const running = server;
  // Every unfinished upload lives in this process (a restart forgets them): the ledger lists them all.
  const expiryTimer = setInterval(
    () => void expiry.expireKnown(),
    Math.min(
      60_000,
      Math.max(
        100,
        (Math.min(config.limits.uploadIdleExpirySeconds, config.limits.uploadMaxLifetimeSeconds) * 1000) / 4,
      ),
    ),
  );
  expiryTimer.unref();
  warnWithoutPublicUrl(config, running.url, logger);

  let closing: Promise<void> | undefined;
  return {
    url: running.url,
    app,
    store,
    view,
    health,
    replayer,
    jobs,
    adminToken,
    expiry,
    intake,
    held,
    deleteGuard,
    close: () => {
      closing ??= (async () => {
        await running.close();
        clearInterval(expiryTimer);
        await jobs.close();
        pinger.stop();
        await replayer.stop();
        await Promise.all([...peers.values()].map((p) => p.close()));
        await convergence.close();
        await deleteWindows.flush();
        await store.close();
        logger.info('relay stopped');
      })();
      return closing;
    },
  };
}

/**
 * With no admin token configured, the relay makes one and keeps it in `<journal>/admin-token` (mode 0600) rather
 * than printing it: secrets never go to logs.
 */
async function generatedAdminToken(root: string, logger: Logger): Promise<string> {
  const file = join(root, 'admin-token');
  const mode = await stat(file).then(
    (s) => s.mode & 0o777,
    () => undefined,
  );
  if (mode !== undefined && (mode & 0o077) !== 0) {
    // Someone else may have read it already: refuse rather than quietly narrow it, so the operator rotates it.
    throw new ConfigError(
      `config auth.adminToken: ${file} can be read by other users (mode 0${mode.toString(8)}); ` +
        `replace it (or remove it to have a new one generated) and keep it mode 600`,
    );
  }
  const existing = await readFile(file, 'utf8').catch(() => '');
  if (existing.trim()) return existing.trim();
  const token = randomBytes(24).toString('base64url');
  await writeFile(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  await chmod(file, 0o600);
  logger.warn('no admin token configured: generated one', { file, hint: 'export VFS_RELAY_ADMIN_TOKEN=$(cat <file>)' });
  return token;
}
