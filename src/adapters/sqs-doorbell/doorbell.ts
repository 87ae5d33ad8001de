import { SendMessageBatchCommand, type SendMessageBatchRequestEntry, type SQSClient } from '@aws-sdk/client-sqs';
import type { Doorbell } from '../../core/doorbell.js';
import type { EntryRef, JournalEntry } from '../../core/entry.js';
import { type Logger, silentLogger } from '../../core/logger.js';
import { checkGroupsPerLane, DEFAULT_GROUPS_PER_LANE, deduplicationId, messageGroupId } from './groups.js';
import { encodeMessage } from './message.js';

export interface SqsDoorbellOptions {
  client: SQSClient;
  /** An SQS FIFO queue (`….fifo`). */
  queueUrl: string;
  /** Reads an entry when a ring names only its lane and id: the message group needs its location and path. */
  resolve?: (ref: EntryRef) => Promise<JournalEntry | undefined>;
  groupsPerLane?: number;
  logger?: Logger;
}

/** SendMessageBatch takes at most 10 entries (SQS quota). */
const BATCH = 10;

/**
 * The cloud doorbell: one SQS FIFO message `{lane, id}` per ready entry, grouped as described in groups.ts.
 *
 * A ring that SQS refuses (after the SDK's own retries) is logged and dropped, never thrown: the entry is already
 * durable and PENDING in the journal, and the sweep re-drives it. Failing the caller instead would make a node
 * journal the same change twice.
 */
export class SqsDoorbell implements Doorbell {
  readonly queueUrl: string;
  private readonly groupsPerLane: number;
  private readonly logger: Logger;

  constructor(private readonly options: SqsDoorbellOptions) {
    this.queueUrl = options.queueUrl;
    this.groupsPerLane = options.groupsPerLane ?? DEFAULT_GROUPS_PER_LANE;
    checkGroupsPerLane(this.groupsPerLane);
    this.logger = options.logger ?? silentLogger;
  }

  /** First announcement of entries (intake): deduplicated by `<lane>.<id>`. */
  async ring(refs: readonly EntryRef[]): Promise<void> {
    await this.send(refs, undefined);
  }

  /** Announces entries again because `cause` happened (a blocker completed, a sweep, a peer came back). */
  redrive(refs: readonly EntryRef[], cause: string): Promise<number> {
    return this.send(refs, cause);
  }

  /** A doorbell whose every ring is a re-drive with a fresh cause (operator retry and skip). */
  redriving(cause: () => string): Doorbell {
    return { ring: async (refs) => void (await this.redrive(refs, cause())) };
  }

  private async send(refs: readonly EntryRef[], cause: string | undefined): Promise<number> {
    const entries = await this.ready(refs);
    let sent = 0;
    for (let at = 0; at < entries.length; at += BATCH) {
      const batch = entries.slice(at, at + BATCH);
      const request: SendMessageBatchRequestEntry[] = batch.map((entry, i) => ({
        Id: String(i),
        MessageBody: encodeMessage(entry),
        MessageGroupId: messageGroupId(entry, this.groupsPerLane),
        MessageDeduplicationId: deduplicationId(entry, cause),
      }));
      try {
        const result = await this.options.client.send(
          new SendMessageBatchCommand({ QueueUrl: this.options.queueUrl, Entries: request }),
        );
        sent += result.Successful?.length ?? 0;
        for (const failed of result.Failed ?? []) {
          const entry = batch[Number(failed.Id)];
          this.logger.error('doorbell ring failed; the sweep will re-drive the entry', {
            entryId: entry?.id,
            lane: entry?.lane,
            code: failed.Code,
            reason: failed.Message,
          });
        }
      } catch (error) {
        this.logger.error('doorbell ring failed; the sweep will re-drive the entries', {
          entryIds: batch.map((e) => e.id),
          lane: batch[0]?.lane,
          error,
        });
      }
    }
    return sent;
  }

  /** The entries worth a message: PENDING when the caller said so, with the metadata the group needs. */
  private async ready(refs: readonly EntryRef[]): Promise<JournalEntry[]> {
    const seen = new Set<string>();
    const out: JournalEntry[] = [];
    for (const ref of refs) {
      const key = `${ref.lane}/${ref.id}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const known = ref as Partial<JournalEntry>;
      const entry =
        known.path !== undefined && known.location !== undefined
          ? (ref as JournalEntry)
          : await this.options.resolve?.(ref);
      if (!entry) continue; // purged meanwhile, or nothing to resolve it with
      if (entry.status !== undefined && entry.status !== 'PENDING') continue; // skipped, parked or awaiting a body
      out.push(entry);
    }
    return out;
  }
}
