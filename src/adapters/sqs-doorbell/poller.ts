import {
  ChangeMessageVisibilityBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { type Logger, silentLogger } from '../../core/logger.js';
import { deleteMessages, parseQueueUrl, type QueueAddress } from './queue.js';
import type { SqsReplayHandler } from './replay-handler.js';

export interface SqsPollerOptions {
  client: SQSClient;
  queueUrl: string;
  /** The same handler the replay Lambda runs. */
  handler: SqsReplayHandler;
  /** Receive loops at once; each works on one batch at a time, like one Lambda invocation (default 4). */
  loops?: number;
  /** Messages per receive, 1–10 (default 10). */
  batchSize?: number;
  /** Long-poll wait, 0–20 s (default 20). */
  waitTimeSeconds?: number;
  /** Visibility timeout taken on receive, extended every third of it while the batch is being worked on. */
  visibilityTimeoutSeconds?: number;
  /** A failed message becomes visible again after this long (its group waits meanwhile). */
  retryDelaySeconds?: number;
  /** How long `stop` waits for the batches in hand before it abandons them (default 10 s). */
  graceMs?: number;
  logger?: Logger;
}

/**
 * The replay worker without Lambda (`vfs-relay serve` in cloud mode): long-polls the queue and hands each batch,
 * as an SQS event, to the replay Lambda's own handler; deletes what succeeded, leaves the failures for SQS to
 * deliver again. SQS itself keeps a FIFO group's messages out of every other receive while one is in flight, so
 * any number of loops and processes preserve each group's order.
 */
/** How long `stop` waits for abandoned batches to hand back their claims and messages. */
const ABANDONED_WAIT_MS = 30_000;

export class SqsReplayPoller {
  private readonly address: QueueAddress;
  /** Aborts the long polls on stop (one controller per poll: the SDK leaves its listener on the signal). */
  private readonly polls = new Set<AbortController>();
  private readonly stopping = new AbortController();
  private readonly running = new Set<Promise<void>>();
  private readonly logger: Logger;
  private stopped = false;

  constructor(private readonly options: SqsPollerOptions) {
    this.address = parseQueueUrl(options.queueUrl, process.env.AWS_REGION);
    this.logger = options.logger ?? silentLogger;
  }

  start(): void {
    for (let i = 0; i < (this.options.loops ?? 4); i++) {
      const loop = this.loop().catch((error: unknown) => this.logger.error('queue poller stopped', { error }));
      this.running.add(loop);
      void loop.finally(() => this.running.delete(loop));
    }
  }

  /**
   * Stops receiving and waits (at most `graceMs`) for the batches in hand. Past that, `abandon` is called (it must
   * make the handler end its replays soon, failing them: the replay worker's `abandon`), and the batches are waited
   * for once more, until they have released what they held and their failed messages are given back to the queue
   * (visible again after `retryDelaySeconds`; at most ABANDONED_WAIT_MS, should S3 or SQS not answer).
   */
  async stop(graceMs = this.options.graceMs ?? 10_000, abandon?: () => void): Promise<void> {
    this.stopped = true;
    this.stopping.abort();
    for (const poll of this.polls) poll.abort();
    if (await this.settledWithin(graceMs)) return;
    if (!abandon) return;
    abandon();
    if (!(await this.settledWithin(ABANDONED_WAIT_MS))) {
      this.logger.warn('replays still running after the shutdown grace');
    }
  }

  private async settledWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    const settled = Promise.allSettled([...this.running]).then(() => true);
    try {
      return await Promise.race([settled, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      let messages: Message[];
      const poll = new AbortController();
      this.polls.add(poll);
      if (this.stopped) break;
      try {
        const received = await this.options.client.send(
          new ReceiveMessageCommand({
            QueueUrl: this.options.queueUrl,
            MaxNumberOfMessages: this.options.batchSize ?? 10,
            WaitTimeSeconds: this.options.waitTimeSeconds ?? 20,
            VisibilityTimeout: this.visibility(),
            MessageSystemAttributeNames: ['All'],
          }),
          { abortSignal: poll.signal },
        );
        messages = received.Messages ?? [];
      } catch (error) {
        if (this.stopped) return;
        this.logger.error('receiving from the queue failed; retrying', { queue: this.address.name, error });
        await this.pause(1000);
        continue;
      } finally {
        this.polls.delete(poll);
      }
      if (messages.length > 0) await this.process(messages);
    }
  }

  private async process(messages: Message[]): Promise<void> {
    const heartbeat = setInterval(
      () => void this.changeVisibility(messages, this.visibility()),
      (this.visibility() * 1000) / 3,
    );
    heartbeat.unref(); // a batch that outlives the shutdown must not keep the process alive
    let failed: Set<string>;
    try {
      const response = await this.options.handler({ Records: messages.map((m) => toSqsRecord(m, this.address)) });
      failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    } catch (error) {
      this.logger.error('replay batch failed', { error });
      failed = new Set(messages.map((m) => m.MessageId!));
    } finally {
      clearInterval(heartbeat);
    }
    const done = messages.filter((m) => !failed.has(m.MessageId!));
    const retry = messages.filter((m) => failed.has(m.MessageId!));
    await Promise.all([this.delete(done), this.changeVisibility(retry, this.options.retryDelaySeconds ?? 5)]);
  }

  private async delete(messages: Message[]): Promise<void> {
    if (messages.length === 0) return;
    await deleteMessages(
      this.options.client,
      this.options.queueUrl,
      messages.map((m) => m.ReceiptHandle!),
      this.logger,
    );
  }

  private async changeVisibility(messages: Message[], seconds: number): Promise<void> {
    if (messages.length === 0) return;
    try {
      await this.options.client.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: this.options.queueUrl,
          Entries: messages.map((m, i) => ({
            Id: String(i),
            ReceiptHandle: m.ReceiptHandle!,
            VisibilityTimeout: seconds,
          })),
        }),
      );
    } catch (error) {
      this.logger.warn('could not change the visibility of messages', { error });
    }
  }

  private visibility(): number {
    return this.options.visibilityTimeoutSeconds ?? 60;
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.stopping.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.stopping.signal.addEventListener('abort', done);
    });
  }
}

/** An SQS message as Lambda's event source mapping presents it (the shape of `SQSEvent.Records[i]`). */
export function toSqsRecord(message: Message, queue: QueueAddress): SQSRecord {
  const a = message.Attributes ?? {};
  return {
    messageId: message.MessageId!,
    receiptHandle: message.ReceiptHandle!,
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: a.ApproximateReceiveCount ?? '1',
      SentTimestamp: a.SentTimestamp ?? String(Date.now()),
      SenderId: a.SenderId ?? '',
      ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      ...(a.SequenceNumber !== undefined && { SequenceNumber: a.SequenceNumber }),
      ...(a.MessageGroupId !== undefined && { MessageGroupId: a.MessageGroupId }),
      ...(a.MessageDeduplicationId !== undefined && { MessageDeduplicationId: a.MessageDeduplicationId }),
    },
    messageAttributes: {},
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queue.arn,
    awsRegion: queue.region ?? 'us-east-1',
  };
}
