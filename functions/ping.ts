import type { ScheduledEvent } from 'aws-lambda';
import { cloudConfigFromEnv } from '../src/runtime/cloud/env.js';
import type { SweepReport } from '../src/runtime/cloud/sweep.js';
import { createCloudRelay } from '../src/runtime/cloud.js';

/** EventBridge schedule: ping the peers that are down, re-drive what no message carries, log the backlog. */
export const relay = createCloudRelay(cloudConfigFromEnv());
export const handler = (_event: ScheduledEvent): Promise<SweepReport> => relay.sweeper.run();
