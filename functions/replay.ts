import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { ReplayMetrics } from '../src/observability/metrics.js';
import { PowertoolsLogger } from '../src/observability/powertools-logger.js';
import { cloudConfigFromEnv } from '../src/runtime/cloud/env.js';
import { createCloudRelay } from '../src/runtime/cloud/relay.js';
import { readRelaySecrets } from '../src/runtime/cloud/secrets.js';

const metrics = new ReplayMetrics();

/** SQS FIFO event source with `reportBatchItemFailures`: replays the entry each doorbell message names. */
export const relay = createCloudRelay(cloudConfigFromEnv(process.env, await readRelaySecrets()), {
  logger: new PowertoolsLogger(),
  onReplay: (report) => metrics.record(report),
});
export const handler = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
  try {
    return await relay.replayHandler(event, context);
  } finally {
    metrics.publish();
  }
};
