import { processPartialResponse, SqsFifoPartialProcessorAsync } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { EntryRef } from '../../core/entry.js';
import type { Logger } from '../../core/logger.js';
import { decodeMessage, MalformedDoorbellMessageError } from './message.js';

export type SqsReplayHandler = (event: SQSEvent, context?: Context) => Promise<SQSBatchResponse>;

/**
 * Turns an SQS batch into calls of `replay(ref)`, one message after another (FIFO order), and reports the
 * messages that threw as batch item failures (`reportBatchItemFailures`): SQS redelivers them, and with
 * `skipGroupOnError` the rest of a failed message's group waits behind it while other groups go on.
 * A message that is not a doorbell message can never succeed: it is logged and acknowledged.
 */
export function sqsReplayHandler(replay: (ref: EntryRef) => Promise<unknown>, logger: Logger): SqsReplayHandler {
  const record = async (message: SQSRecord): Promise<void> => {
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
      await replay(ref);
    } catch (error) {
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
  return (event, context) =>
    processPartialResponse(event, record, new SqsFifoPartialProcessorAsync(), {
      ...(context && { context }),
      skipGroupOnError: true,
      throwOnFullBatchFailure: false,
    });
}
