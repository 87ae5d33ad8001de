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
  finish(): Promise<void>;
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
export function sqsReplayHandler(replays: { batch(): ReplayBatch }, logger: Logger): SqsReplayHandler {
  const record = async (batch: ReplayBatch, message: SQSRecord): Promise<void> => {
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
    try {
      return await processPartialResponse(
        event,
        (message: SQSRecord) => record(batch, message),
        new BatchProcessor(EventType.SQS),
        {
          ...(context && { context }),
          processInParallel: true,
          throwOnFullBatchFailure: false,
        },
      );
    } finally {
      await batch.finish();
    }
  };
}
