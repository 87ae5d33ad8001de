import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  SQSClient,
  type SQSClientConfig,
} from '@aws-sdk/client-sqs';
import { parseQueueUrl } from '../../config/locations.js';
import type { Logger } from '../../core/logger.js';

export { parseQueueUrl, type QueueAddress } from '../../config/locations.js';

/**
 * An SQS client for a queue URL. Region, credentials and endpoint come from the standard AWS SDK environment
 * (`AWS_REGION`, `AWS_ENDPOINT_URL[_SQS]`, …); the region defaults to the one in the queue's host name.
 */
export function sqsClientFor(queueUrl: string, config: SQSClientConfig = {}): SQSClient {
  const { region } = parseQueueUrl(queueUrl, process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION);
  return new SQSClient({ ...(region !== undefined && { region }), ...config });
}

export interface QueueDepth {
  /** Waiting to be received. */
  visible: number;
  /** Received, not yet deleted (being processed, or failed and waiting for their visibility timeout). */
  inFlight: number;
  delayed: number;
}

/** The queue's approximate message counts (SQS updates them within about a minute). */
export async function queueDepth(client: SQSClient, queueUrl: string): Promise<QueueDepth> {
  const { Attributes: a = {} } = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  return {
    visible: Number(a.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(a.ApproximateNumberOfMessagesNotVisible ?? 0),
    delayed: Number(a.ApproximateNumberOfMessagesDelayed ?? 0),
  };
}

/**
 * Deletes received messages by their receipt handles, 10 per request (SQS's batch limit). Never throws: a message
 * that stays comes back after its visibility timeout and is acknowledged then as already done.
 */
export async function deleteMessages(
  client: SQSClient,
  queueUrl: string,
  receiptHandles: readonly string[],
  logger: Logger,
): Promise<void> {
  for (let i = 0; i < receiptHandles.length; i += 10) {
    const chunk = receiptHandles.slice(i, i + 10);
    try {
      const result = await client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: chunk.map((handle, n) => ({ Id: String(n), ReceiptHandle: handle })),
        }),
      );
      if (result.Failed?.length) logger.warn('could not delete replayed messages', { failed: result.Failed });
    } catch (error) {
      logger.warn('could not delete replayed messages', { error });
    }
  }
}
