import type { Context, ScheduledEvent } from 'aws-lambda';
import { BacklogMetrics, JobMetrics, PeerMetrics, UploadMetrics } from '../src/observability/metrics.js';
import { PowertoolsLogger } from '../src/observability/powertools-logger.js';
import { cloudConfigFromEnv } from '../src/runtime/cloud/env.js';
import { createCloudRelay } from '../src/runtime/cloud/relay.js';
import { readRelaySecrets } from '../src/runtime/cloud/secrets.js';
import type { SweepReport } from '../src/runtime/cloud/sweep.js';

const backlogMetrics = new BacklogMetrics();
const peerMetrics = new PeerMetrics();
const jobMetrics = new JobMetrics();
const uploadMetrics = new UploadMetrics();
/** A job slice's share of one invocation: the rest of the 5-minute timeout is for the sweep and a margin. */
const MAX_SLICE_MS = 4 * 60_000;
const MARGIN_MS = 30_000;

/**
 * EventBridge schedule: ping the peers that are down, re-drive what no message carries, publish the backlog; then
 * run the verify and resync jobs for what time is left (docs/cloud.md, "Verify and resync jobs").
 */
export const relay = createCloudRelay(cloudConfigFromEnv(process.env, await readRelaySecrets()), {
  logger: new PowertoolsLogger(),
  onUploadExpired: (change) => uploadMetrics.recordExpired(change.node),
});
export const handler = async (_event: ScheduledEvent, context?: Context): Promise<SweepReport> => {
  const report = await relay.sweeper.run();
  const peers = relay.config.peers.map((p) => p.name);
  // Every configured peer, every ping: the alarms treat a missing PeerOnline as "not known to be online".
  backlogMetrics.publish(new Map(report.peers.map((b) => [b.peer, b])), { peers });
  uploadMetrics.publish();
  peerMetrics.publish(new Map(await Promise.all(peers.map(async (p) => [p, await relay.health.status(p)] as const))));
  const budget = Math.min(MAX_SLICE_MS, (context?.getRemainingTimeInMillis() ?? MAX_SLICE_MS) - MARGIN_MS);
  jobMetrics.publish(await relay.jobs.runSlices(Date.now() + Math.max(0, budget)), peers);
  return report;
};
