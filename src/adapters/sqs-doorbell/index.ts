export { SqsDoorbell, type SqsDoorbellOptions } from './doorbell.js';
export {
  DEFAULT_GROUPS_PER_LANE,
  deduplicationId,
  fitSqsId,
  groupKey,
  MAX_SQS_ID_LENGTH,
  messageGroupId,
} from './groups.js';
export { decodeMessage, encodeMessage, MalformedDoorbellMessageError } from './message.js';
export { type SqsPollerOptions, SqsReplayPoller, toSqsRecord } from './poller.js';
export { parseQueueUrl, type QueueAddress, type QueueDepth, queueDepth, sqsClientFor } from './queue.js';
export { type SqsReplayHandler, sqsReplayHandler } from './replay-handler.js';
