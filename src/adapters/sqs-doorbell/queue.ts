import { GetQueueAttributesCommand, SQSClient, type SQSClientConfig } from '@aws-sdk/client-sqs';

/** Where an SQS queue URL points: `https://sqs.<region>.amazonaws.com/<account>/<name>` (or a local endpoint). */
export interface QueueAddress {
  url: string;
  region: string | undefined;
  account: string;
  name: string;
  /** `arn:aws:sqs:<region>:<account>:<name>`, as Lambda puts it into SQS events. */
  arn: string;
}

export function parseQueueUrl(url: string, fallbackRegion?: string): QueueAddress {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`"${url}" is not an SQS queue URL`);
  }
  const [account, name, ...rest] = parsed.pathname.split('/').filter(Boolean);
  if (!account || !name || rest.length > 0) throw new Error(`"${url}" is not an SQS queue URL (…/<account>/<name>)`);
  if (!name.endsWith('.fifo')) throw new Error(`the queue ${name} is not a FIFO queue (its name must end in .fifo)`);
  const region = /^sqs\.([a-z0-9-]+)\.amazonaws\.com/.exec(parsed.hostname)?.[1] ?? fallbackRegion;
  return { url, region, account, name, arn: `arn:aws:sqs:${region ?? 'us-east-1'}:${account}:${name}` };
}

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
