import { PinoLogger } from '../../adapters/log/pino-logger.js';
import { type SqsPollerOptions, SqsReplayPoller } from '../../adapters/sqs-doorbell/poller.js';
import type { RelayConfig } from '../../config/load.js';
import type { Logger } from '../../core/logger.js';
import { listenOptions, type RunningServer, startHttpServer } from '../http-server.js';
import { warnWithoutPublicUrl } from '../listen-check.js';
import { OperatorSurfaces } from '../operator-surfaces.js';
import type { CloudJobs } from './jobs/cloud-jobs.js';
import { type CloudOptions, type CloudRelay, createCloudRelay } from './relay.js';

export interface CloudServeOptions extends CloudOptions {
  /** Queue poller settings (default: `replay.concurrency` receive loops, 60 s visibility kept alive). */
  poller?: Partial<Omit<SqsPollerOptions, 'client' | 'queueUrl' | 'handler'>>;
}

export interface CloudServe {
  url: string;
  relay: CloudRelay;
  poller: SqsReplayPoller;
  /** Runs one sweep now (also run every ping interval). */
  sweep(): Promise<void>;
  close(): Promise<void>;
}

/**
 * `vfs-relay serve` in cloud mode: the whole system in one process against any S3 + SQS endpoint, no Lambda.
 * The API on Node, the replay Lambda's handler fed by long-polling the queue, and the ping Lambda's sweep on a
 * timer (every shortest `pingIntervalSeconds`). Several such processes may share one journal and queue.
 */
export async function startCloudServe(config: RelayConfig, options: CloudServeOptions = {}): Promise<CloudServe> {
  const logger = options.logger ?? new PinoLogger();
  // Counters and the throughput chart cover the replays of this process (several may share one journal).
  const surfaces = new OperatorSurfaces(config.peers.map((p) => p.name));
  let listening: string | undefined;
  const relay = createCloudRelay(config, {
    bodiesThroughRelay: true,
    ...options,
    logger,
    listenUrl: () => listening,
    onReplay: (report) => {
      surfaces.record(report);
      options.onReplay?.(report);
    },
    onUploadExpired: (change) => {
      surfaces.uploadExpired(change);
      options.onUploadExpired?.(change);
    },
  });
  surfaces.mount(relay.app, { adminToken: relay.adminToken, nodeTokens: config.auth.nodeTokens });
  let server: RunningServer;
  try {
    relay.clock.seed(await relay.store.newestId());
    server = await startHttpServer({
      fetch: relay.app.fetch,
      routes: relay.nodeRoutes,
      ...listenOptions(config, logger),
    });
  } catch (error) {
    await relay.close();
    throw error;
  }
  listening = server.url;
  warnWithoutPublicUrl(config, server.url, logger);
  const poller = new SqsReplayPoller({
    client: relay.sqs,
    queueUrl: config.queue!,
    handler: relay.replayHandler,
    loops: config.replay.concurrency,
    logger,
    ...options.poller,
  });
  poller.start();

  let sweeping: Promise<void> | undefined;
  const sweep = (): Promise<void> => {
    sweeping ??= relay.sweeper
      .run()
      .then(() => undefined)
      .catch((error: unknown) => logger.error('sweep failed', { error }))
      .finally(() => {
        sweeping = undefined;
      });
    return sweeping;
  };
  const intervalSeconds = Math.min(60, ...config.peers.map((p) => p.pingIntervalSeconds));
  const timer = setInterval(() => void sweep(), intervalSeconds * 1000);
  timer.unref();
  void sweep(); // whatever was PENDING before this start resumes
  const jobLoop = runJobLoop(relay.jobs, logger);
  logger.info('relay listening', {
    url: server.url,
    mode: 'cloud',
    journal: relay.store.url,
    queue: config.queue,
    peers: config.peers.map((p) => p.name),
    config: config.source,
  });

  let closing: Promise<void> | undefined;
  return {
    url: server.url,
    relay,
    poller,
    sweep,
    close: () => {
      closing ??= (async () => {
        await server.close();
        clearInterval(timer);
        await jobLoop.stop();
        // Past the grace, the replays still running are aborted, recording nothing, and their messages go back:
        // closing the peers under them made them fail as if the peer were down (OFFLINE for every process).
        await poller.stop(undefined, () => relay.worker.abandon());
        await sweeping;
        await relay.close();
        logger.info('relay stopped');
      })();
      return closing;
    },
  };
}

/** Slices a running job gets in `serve`, back to back (the ping Lambda runs one per invocation). */
const SERVE_SLICE_MS = 30_000;

/**
 * `vfs-relay serve` in cloud mode runs jobs itself: slices back to back while any job runs, a look every two
 * seconds otherwise. Other processes sharing the journal take turns through each job's lease.
 */
function runJobLoop(jobs: CloudJobs, logger: Logger): { stop: () => Promise<void> } {
  let stopped = false;
  let wake = () => {};
  const loop = (async () => {
    while (!stopped) {
      try {
        if (await jobs.anyRunning()) await jobs.runSlices(Date.now() + SERVE_SLICE_MS);
      } catch (error) {
        logger.error('job slices failed', { error });
      }
      if (stopped) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 2000).unref();
      });
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      jobs.stop();
      wake();
      await loop;
    },
  };
}
