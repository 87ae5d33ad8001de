// Request counting for npm run bench:cloud: an SDK middleware per client, and receive loops that stand for Lambda
// invocations (see cloud.ts for why they do not long-poll).
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { toSqsRecord } from '../../src/adapters/sqs-doorbell/poller.js';
import { parseQueueUrl } from '../../src/adapters/sqs-doorbell/queue.js';
import type { SqsReplayHandler } from '../../src/adapters/sqs-doorbell/replay-handler.js';

/** Counts every request a client sends (each HTTP attempt: the deserialize step runs inside the retry loop). */
export class RequestCounter {
  readonly counts = new Map<string, number>();
  /** Milliseconds spent waiting for the answers, per operation (BENCH_TRACE=1 prints them). */
  readonly waited = new Map<string, number>();

  /** A deserialize-step middleware (inside the retry loop: every HTTP attempt counts, a presign none). */
  middleware(service: string) {
    return <I, O>(next: (args: I) => Promise<O>, context: { commandName?: string }) =>
      async (args: I): Promise<O> => {
        const op = `${service} ${context.commandName?.replace(/Command$/, '')}`;
        const key = (args as { input?: { Key?: string } }).input?.Key;
        const name = process.env.BENCH_TRACE && key ? `${op} …/${key.split('/').slice(-1)[0]!.slice(0, 12)}` : op;
        this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
        const started = performance.now();
        try {
          return await next(args);
        } finally {
          this.waited.set(name, (this.waited.get(name) ?? 0) + performance.now() - started);
        }
      };
  }

  add(name: string): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
  }

  take(): Map<string, number> {
    const out = new Map(this.counts);
    if (process.env.BENCH_TRACE) {
      for (const [name, n] of out) {
        process.stderr.write(`${name}: ${n} requests, ${((this.waited.get(name) ?? 0) / n).toFixed(1)} ms each\n`);
      }
    }
    this.counts.clear();
    this.waited.clear();
    return out;
  }
}

/** `loops` receive loops handing batches to the replay handler; receives and deletes counted into `counter`. */
export class ReceiveLoops {
  emptyReceives = 0;
  /** Time spent in the handler, summed over batches (what Lambda bills), and how many batches. */
  handlerMs = 0;
  batches = 0;
  private stopped = false;
  private running: Promise<void>[] = [];

  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
    private readonly handler: SqsReplayHandler,
    private readonly loops: number,
    private readonly batchSize: number,
    private readonly counter: RequestCounter,
  ) {}

  start(): void {
    this.running = Array.from({ length: this.loops }, () => this.loop());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.running);
  }

  private async loop(): Promise<void> {
    const address = parseQueueUrl(this.queueUrl, 'us-east-1');
    while (!this.stopped) {
      const { Messages: messages = [] } = await this.client.send(
        new ReceiveMessageCommand({
          QueueUrl: this.queueUrl,
          MaxNumberOfMessages: this.batchSize,
          WaitTimeSeconds: 0,
          MessageSystemAttributeNames: ['All'],
        }),
      );
      if (messages.length === 0) {
        this.emptyReceives++;
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      this.counter.add('SQS ReceiveMessage');
      const started = performance.now();
      const response = await this.handler({ Records: messages.map((m) => toSqsRecord(m, address)) });
      this.handlerMs += performance.now() - started;
      this.batches++;
      const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
      const done = messages.filter((m) => !failed.has(m.MessageId!));
      if (done.length === 0) continue;
      this.counter.add('SQS DeleteMessageBatch');
      await this.client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: this.queueUrl,
          Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
        }),
      );
    }
  }
}

export function total(counts: Map<string, number>, service?: string): number {
  let sum = 0;
  for (const [name, n] of counts) if (!service || name.startsWith(`${service} `)) sum += n;
  return sum;
}

export function perChange(counts: Map<string, number>, changes: number): [string, string][] {
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([name, n]) => [`  ${name}`, `${(n / changes).toFixed(2)} per change (${n})`]);
}
