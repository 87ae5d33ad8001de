import type { EntryRef } from '../../core/entry.js';
import { RelayError } from '../../core/errors.js';
import { isLaneId } from '../../core/lane.js';
import { isStamp } from '../../core/stamp.js';

/** A message body that is not a doorbell message: it can never succeed, so it is logged and dropped. */
export class MalformedDoorbellMessageError extends RelayError {
  readonly code = 'BAD_DOORBELL_MESSAGE';
}

/** The whole message: which entry is ready. Everything else is read from the journal. */
export function encodeMessage(ref: EntryRef): string {
  return JSON.stringify({ lane: ref.lane, id: ref.id });
}

export function decodeMessage(body: string): EntryRef {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new MalformedDoorbellMessageError('the message body is not JSON');
  }
  const { lane, id } = (parsed ?? {}) as { lane?: unknown; id?: unknown };
  if (typeof lane !== 'string' || !isLaneId(lane) || typeof id !== 'string' || !isStamp(id)) {
    throw new MalformedDoorbellMessageError('the message body is not {"lane": <lane id>, "id": <stamp>}');
  }
  return { lane, id };
}
