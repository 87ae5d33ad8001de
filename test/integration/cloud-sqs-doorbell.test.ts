import { randomBytes } from 'node:crypto';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  type Message,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SqsDoorbell } from '../../src/adapters/sqs-doorbell/doorbell.js';
import { deduplicationId, messageGroupId } from '../../src/adapters/sqs-doorbell/groups.js';
import { SqsReplayPoller } from '../../src/adapters/sqs-doorbell/poller.js';
import { queueDepth } from '../../src/adapters/sqs-doorbell/queue.js';
import { sqsReplayHandler } from '../../src/adapters/sqs-doorbell/replay-handler.js';
import type { EntryRef, JournalEntry } from '../../src/core/entry.js';
import { laneId } from '../../src/core/lane.js';
import { silentLogger } from '../../src/core/logger.js';
import { StampClock } from '../../src/core/stamp.js';
import { type Moto, motoAvailable, startMoto } from '../support/moto.js';
import { waitFor } from '../support/node-client.js';
import { describeWithServer } from '../support/servers.js';

const LANE = laneId('/user_homes', 'server2');
const clock = new StampClock();

function entry(path: string, fields: Partial<JournalEntry> = {}): JournalEntry {
  return {
    lane: LANE,
    id: clock.next(),
    peer: 'server2',
    location: '/user_homes',
    action: 'upload',
    path,
    size: 1,
    createdAt: new Date().toISOString(),
    status: 'PENDING',
    attempts: 0,
    ...fields,
  };
}

let moto: Moto;
let sqs: SQSClient;

beforeAll(async () => {
  if (!motoAvailable) return;
  moto = await startMoto();
  sqs = new SQSClient({
    region: 'us-east-1',
    endpoint: moto.endpoint,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
});
afterAll(async () => {
  sqs?.destroy();
  await moto?.close();
});

async function freshQueue(): Promise<string> {
  const queue = await sqs.send(
    new CreateQueueCommand({
      QueueName: `doorbell-${randomBytes(4).toString('hex')}.fifo`,
      Attributes: { FifoQueue: 'true', VisibilityTimeout: '30' },
    }),
  );
  return queue.QueueUrl!;
}

async function receive(queueUrl: string, max = 10): Promise<Message[]> {
  const received = await sqs.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: max, MessageSystemAttributeNames: ['All'] }),
  );
  return received.Messages ?? [];
}

const bodyOf = (m: Message) => JSON.parse(m.Body!) as EntryRef;

describeWithServer('moto_server', motoAvailable, 'SQS FIFO doorbell against moto_server', () => {
  it('rings one message {lane, id} per entry, in its group, deduplicated by entry id', async () => {
    const queueUrl = await freshQueue();
    const doorbell = new SqsDoorbell({ client: sqs, queueUrl });
    const a = entry('/user_homes/john/a.txt');
    await doorbell.ring([a]);
    await doorbell.ring([a]); // the same ring again: an SDK retry, a repeated commit
    const [message, ...rest] = await receive(queueUrl);
    expect(rest).toEqual([]);
    expect(bodyOf(message!)).toEqual({ lane: a.lane, id: a.id });
    expect(message!.Attributes).toMatchObject({
      MessageGroupId: messageGroupId(a),
      MessageDeduplicationId: deduplicationId(a),
    });
    expect(await queueDepth(sqs, queueUrl)).toEqual({ visible: 0, inFlight: 1, delayed: 0 });
  });

  it('sends a re-drive for a new cause even within the deduplication window', async () => {
    const queueUrl = await freshQueue();
    const doorbell = new SqsDoorbell({ client: sqs, queueUrl });
    const a = entry('/user_homes/john/a.txt');
    await doorbell.ring([a]);
    expect(await doorbell.redrive([a], 'after.x')).toBe(1);
    await doorbell.redrive([a], 'after.x'); // two workers completing the same blocker: one message
    const messages = await receive(queueUrl);
    expect(messages.map((m) => m.Attributes?.MessageDeduplicationId)).toEqual([
      deduplicationId(a),
      deduplicationId(a, 'after.x'),
    ]);
  });

  it('keeps a group in order and hands other groups out in parallel', async () => {
    const queueUrl = await freshQueue();
    const doorbell = new SqsDoorbell({ client: sqs, queueUrl });
    const john1 = entry('/user_homes/john/1');
    const john2 = entry('/user_homes/john/1'); // a second change to the same path
    const mary = entry('/user_homes/mary/1');
    expect(messageGroupId(john1)).toBe(messageGroupId(john2));
    expect(messageGroupId(john1)).not.toBe(messageGroupId(mary));
    await doorbell.ring([john1, john2, mary]);
    const [first] = await receive(queueUrl, 1);
    expect(bodyOf(first!).id).toBe(john1.id);
    // While john1 is in flight, john2 is handed to no one; mary's group is independent.
    expect((await receive(queueUrl, 1)).map((m) => bodyOf(m).id)).toEqual([mary.id]);
    expect(await receive(queueUrl)).toEqual([]);
    await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: first!.ReceiptHandle! }));
    expect((await receive(queueUrl)).map((m) => bodyOf(m).id)).toEqual([john2.id]);
  });

  it('rings only PENDING entries, and resolves refs that carry no path', async () => {
    const queueUrl = await freshQueue();
    const known = entry('/user_homes/ann/x');
    const doorbell = new SqsDoorbell({
      client: sqs,
      queueUrl,
      resolve: async (ref) => (ref.id === known.id ? known : undefined),
    });
    const parked = entry('/user_homes/bob/y', { status: 'CONFLICT' });
    const purged: EntryRef = { lane: LANE, id: clock.next() };
    await doorbell.ring([parked, { lane: known.lane, id: known.id }, purged]);
    const messages = await receive(queueUrl);
    expect(messages.map((m) => bodyOf(m).id)).toEqual([known.id]);
    expect(messages[0]!.Attributes?.MessageGroupId).toBe(messageGroupId(known));
  });

  it('feeds the replay handler from a long poll, deletes what succeeded and redelivers what failed', async () => {
    const queueUrl = await freshQueue();
    const doorbell = new SqsDoorbell({ client: sqs, queueUrl });
    const good = entry('/user_homes/carl/ok');
    const flaky = entry('/user_homes/dora/flaky');
    const seen: string[] = [];
    let failures = 0;
    const replay = async (ref: EntryRef) => {
      seen.push(ref.id);
      if (ref.id === flaky.id && failures++ === 0) throw new Error('S3 throttled');
    };
    const handler = sqsReplayHandler({ batch: () => ({ replay, finish: async () => {} }) }, silentLogger);
    const poller = new SqsReplayPoller({
      client: sqs,
      queueUrl,
      handler,
      loops: 2,
      waitTimeSeconds: 1,
      retryDelaySeconds: 1,
    });
    poller.start();
    try {
      await doorbell.ring([good, flaky]);
      await waitFor(
        async () => seen.filter((id) => id === flaky.id).length === 2,
        15_000,
        () => seen.join(','),
      );
      await waitFor(async () => {
        const depth = await queueDepth(sqs, queueUrl);
        return depth.visible + depth.inFlight === 0;
      }, 15_000);
      expect(seen.filter((id) => id === good.id)).toHaveLength(1);
    } finally {
      await poller.stop(5000);
    }
  });
});
