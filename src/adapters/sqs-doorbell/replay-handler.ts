import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { EntryRef } from '../../core/entry.js';
import type { Logger } from '../../core/logger.js';
import { decodeMessage, MalformedDoorbellMessageError } from './message.js';

export type SqsReplayHandler = (event: SQSEvent, context?: Context) => Promise<SQSBatchResponse>;

/** A replay given up because its process is shutting down: nothing of it was recorded, its message goes back. */
export class ReplayStoppedError extends Error {
  constructor() {
    super('the replay was stopped: this process is shutting down');
    this.name = 'ReplayStoppedError';
  }
}

/** The replays of one batch: they may share work (lane listings), and `finish` runs once all of them ended. */
export interface ReplayBatch {
  replay(ref: EntryRef): Promise<unknown>;
  /** Wakes what waited for the entries completed so far, while others still run (see acknowledgeAfterMs). */
  settle?(): Promise<void>;
  finish(): Promise<void>;
}

export interface SqsReplayHandlerOptions {
  /**
   * Deletes messages from the queue (their receipt handles) before the batch ends. SQS hands out a FIFO group's
   * next message only once the one in flight is deleted, and a batch's messages are deleted when the whole batch
   * ends: one long upload held the groups of every other message of its batch (up to 9) for its whole transfer.
   */
  acknowledge?: (records: readonly SQSRecord[]) => Promise<void>;
  /**
   * How long a replay that succeeded waits for the rest of its batch before it is settled (its waiters re-rung)
   * and acknowledged on its own (default 2 s). A batch that ends sooner costs no request more than before.
   */
  acknowledgeAfterMs?: number;
}

/** See SqsReplayHandlerOptions.acknowledgeAfterMs. */
export const ACKNOWLEDGE_AFTER_MS = 2_000;

/**
 * The replays of a batch that succeeded while others still run: after `delayMs`, their waiters are re-rung and
 * their messages deleted, in that order (a crash between the two redelivers a message whose entry is gone, which
 * re-rings its waiters again: harmless). Each record is acknowledged at most once here; the batch's own end
 * acknowledges every success again (the Lambda event source, the poller), which SQS takes for a deleted message.
 */
class EarlyAcknowledgement {
  private readonly ready: SQSRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly batch: ReplayBatch,
    private readonly acknowledge: (records: readonly SQSRecord[]) => Promise<void>,
    private readonly delayMs: number,
    private readonly logger: Logger,
  ) {}

  succeeded(record: SQSRecord): void {
    if (this.stopped) return;
    this.ready.push(record);
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(), this.delayMs);
    this.timer.unref();
  }

  /** Stops acknowledging; resolves once an acknowledgement under way has ended. */
  stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    return this.flushing;
  }

  private flush(): void {
    this.timer = undefined;
    const records = this.ready.splice(0);
    if (this.stopped || records.length === 0) return;
    this.flushing = this.flushing.then(async () => {
      try {
        await this.batch.settle?.();
        await this.acknowledge(records);
      } catch (error) {
        // The batch's end acknowledges them anyway.
        this.logger.warn('could not acknowledge replayed messages before their batch ended', { error });
      }
    });
  }
}

/**
 * Turns an SQS batch into calls of `replay(ref)`, all at once, and reports the messages that threw as batch item
 * failures (`reportBatchItemFailures`): SQS redelivers them. The FIFO order of a group is not what orders
 * replays — the journal check is (see groups.ts): the replay of an entry waits for the older entries it overlaps,
 * whether they are in this batch or not, so entries that overlap nothing go to the peer concurrently. A failed
 * message therefore does not hold back the rest of its group (no `skipGroupOnError`): whatever overlaps it waits
 * in the journal anyway. A message that is not a doorbell message can never succeed: it is logged and
 * acknowledged.
 */
export function sqsReplayHandler(
  replays: { batch(): ReplayBatch },
  logger: Logger,
  options: SqsReplayHandlerOptions = {},
): SqsReplayHandler {
  const record = async (batch: ReplayBatch, message: SQSRecord, early?: EarlyAcknowledgement): Promise<void> => {
    await replayRecord(batch, message);
    early?.succeeded(message);
  };
  const replayRecord = async (batch: ReplayBatch, message: SQSRecord): Promise<void> => {
    let ref: EntryRef;
    try {
      ref = decodeMessage(message.body);
    } catch (error) {
      if (!(error instanceof MalformedDoorbellMessageError)) throw error;
      logger.warn('dropping a message that is not a doorbell message', {
        messageId: message.messageId,
        reason: error.message,
      });
      return;
    }
    try {
      await batch.replay(ref);
    } catch (error) {
      if (error instanceof ReplayStoppedError) {
        logger.info('replay stopped by the shutdown; SQS delivers the message again', {
          messageId: message.messageId,
          entryId: ref.id,
          lane: ref.lane,
        });
        throw error;
      }
      logger.error('replay failed; SQS delivers the message again', {
        messageId: message.messageId,
        entryId: ref.id,
        lane: ref.lane,
        error,
      });
      throw error;
    }
  };
  // One processor per batch: a processor holds the state of the batch it is working on.
  return async (event, context) => {
    const batch = replays.batch();
    const early =
      options.acknowledge && event.Records.length > 1
        ? new EarlyAcknowledgement(
            batch,
            options.acknowledge,
            options.acknowledgeAfterMs ?? ACKNOWLEDGE_AFTER_MS,
            logger,
          )
        : undefined;
    try {
      return await processPartialResponse(
        event,
        (message: SQSRecord) => record(batch, message, early),
        new BatchProcessor(EventType.SQS),
        {
          ...(context && { context }),
          processInParallel: true,
          throwOnFullBatchFailure: false,
        },
      );
    } finally {
      await early?.stop();
      await batch.finish();
    }
  };
}
