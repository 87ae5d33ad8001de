import type { ScheduledEvent } from 'aws-lambda';
import { BacklogMetrics, PeerMetrics } from '../src/observability/metrics.js';
import { PowertoolsLogger } from '../src/observability/powertools-logger.js';
import { cloudConfigFromEnv } from '../src/runtime/cloud/env.js';
import { readRelaySecrets } from '../src/runtime/cloud/secrets.js';
import type { SweepReport } from '../src/runtime/cloud/sweep.js';
import { createCloudRelay } from '../src/runtime/cloud.js';

const backlogMetrics = new BacklogMetrics();
const peerMetrics = new PeerMetrics();

/** EventBridge schedule: ping the peers that are down, re-drive what no message carries, publish the backlog. */
export const relay = createCloudRelay(cloudConfigFromEnv(process.env, await readRelaySecrets()), {
  logger: new PowertoolsLogger(),
});
export const handler = async (_event: ScheduledEvent): Promise<SweepReport> => {
  const report = await relay.sweeper.run();
  const peers = relay.config.peers.map((p) => p.name);
  // Every configured peer, every ping: the alarms treat a missing PeerOnline as "not known to be online".
  backlogMetrics.publish(new Map(report.peers.map((b) => [b.peer, b])), { peers });
  peerMetrics.publish(new Map(await Promise.all(peers.map(async (p) => [p, await relay.health.status(p)] as const))));
  return report;
};
