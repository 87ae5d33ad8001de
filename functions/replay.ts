import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { cloudConfigFromEnv } from '../src/runtime/cloud/env.js';
import { createCloudRelay } from '../src/runtime/cloud.js';

/** SQS FIFO event source with `reportBatchItemFailures`: replays the entry each doorbell message names. */
export const relay = createCloudRelay(cloudConfigFromEnv());
export const handler = (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
  relay.replayHandler(event, context);
