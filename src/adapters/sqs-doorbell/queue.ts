import { GetQueueAttributesCommand, SQSClient, type SQSClientConfig } from '@aws-sdk/client-sqs';
import { parseQueueUrl } from '../../config/locations.js';

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
