import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { expect, it } from 'vitest';
import { S3JournalStore } from '../../src/adapters/s3-journal/store.js';
import { parseConfig } from '../../src/config/load.js';
import { ChangeIntake } from '../../src/core/intake.js';
import { laneId } from '../../src/core/lane.js';
import { silentLogger } from '../../src/core/logger.js';
import { StampClock } from '../../src/core/stamp.js';
import { Topology } from '../../src/core/topology.js';
import { createCloudRelay } from '../../src/runtime/cloud/relay.js';
import { entry } from '../support/journal-conformance.js';
import { freshBucket, motoAvailable, motoS3Client, useMotoS3 } from '../support/moto.js';
import { ADMIN_TOKEN, NODE_A_TOKEN } from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';

// The S3 journal when a request fails half-way: what a node is told failed must leave nothing behind, an answer
// lost after S3 did the work must not leave debris, and a re-ring must not be taken for a duplicate by SQS FIFO.

const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
const LANE2 = laneId('/user_homes', 'server2');
const LANE3 = laneId('/user_homes', 'server3');

describeWithServer('moto_server', motoAvailable, 'S3 journal: faults half-way', () => {
  const s3 = useMotoS3();

  it('a change whose create fails on one lane leaves no entry on the others (the node sends it again)', async () => {
    const bucket = await freshBucket(s3.client);
    const client = motoS3Client(s3.endpoint);
    let failNext = true;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { Key?: string };
        if (failNext && context.commandName === 'PutObjectCommand' && input.Key?.includes(`/${LANE3}/`)) {
          failNext = false; // what the SDK's own retries could not get through: 503 SlowDown
          throw Object.assign(new Error('Please reduce your request rate.'), {
            name: 'SlowDown',
            $fault: 'server',
            $metadata: { httpStatusCode: 503 },
          });
        }
        return next(args);
      },
      { step: 'initialize', name: 'failOnePut' },
    );
    const store = new S3JournalStore(client, bucket, 'relay');
    const intake = new ChangeIntake({
      store,
      doorbell: { ring: async () => {} },
      clock: new StampClock(),
      topology: new Topology(
        [{ path: '/user_homes', replicate: true }],
        ['server2', 'server3'].map((name) => ({ name })),
      ),
      replicationUser: 'replication',
    });
    const change = { action: 'rename' as const, path: '/user_homes/a', target: '/user_homes/b' };
    await expect(intake.submit(change, 'node-a')).rejects.toMatchObject({ name: 'SlowDown' });
    await intake.submit(change, 'node-a'); // the agent's retry
    for (const lane of [LANE2, LANE3]) {
      expect((await store.list(lane)).map((e) => `${e.action} ${e.path} ${e.status}`)).toEqual([
        'rename /user_homes/a PENDING',
      ]);
    }
    client.destroy();
  });

  it('a purge whose answer was lost and sent again by the SDK removes the body too and says it purged', async () => {
    const bucket = await freshBucket(s3.client);
    const client = motoS3Client(s3.endpoint);
    let loseNext = false;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (loseNext && context.commandName === 'DeleteObjectCommand') {
          loseNext = false; // S3 deleted it; the answer never came back, and the SDK sends the request again
          await next(args).catch(() => undefined);
          throw Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });
        }
        return result;
      },
      { step: 'deserialize', priority: 'high', name: 'loseOneAnswer' },
    );
    const store = new S3JournalStore(client, bucket, 'relay');
    const e = entry({ action: 'upload', path: '/user_homes/a', size: 3, status: 'AWAITING_BODY' });
    await store.create([e]);
    await store.writeBody(e, Readable.from([Buffer.from('abc')]), 3);
    loseNext = true;
    const purged = await store.purgeIf(e, (x) => x.status === 'AWAITING_BODY');
    const bodyLeft = await client
      .send(new HeadObjectCommand({ Bucket: bucket, Key: store.keys.body(e) }))
      .then(() => true)
      .catch(() => false);
    expect({ purged, config: await store.read(e), bodyLeft }).toEqual({
      purged: true,
      config: undefined,
      bodyLeft: false,
    });
    client.destroy();
  });

  it('an upload given up re-rings what waited behind it with an id SQS FIFO has not seen', async () => {
    const bucket = await freshBucket(s3.client);
    const sqs = new SQSClient({ region: 'us-east-1', endpoint: s3.endpoint, credentials });
    const { QueueUrl } = await sqs.send(
      new CreateQueueCommand({
        QueueName: `faults-${randomBytes(4).toString('hex')}.fifo`,
        Attributes: { FifoQueue: 'true', VisibilityTimeout: '30' },
      }),
    );
    const relay = createCloudRelay(
      parseConfig(
        {
          journal: `s3://${bucket}/relay`,
          queue: QueueUrl,
          peers: [{ name: 'server2', url: 'http://127.0.0.1:9/' }],
          vfs: [{ path: '/user_homes', replicate: true }],
          auth: { adminToken: ADMIN_TOKEN, nodeTokens: { 'node-a': NODE_A_TOKEN } },
        },
        {},
        'test',
      ),
      {
        logger: silentLogger,
        s3: { endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials },
        sqs: { endpoint: s3.endpoint, region: 'us-east-1', credentials },
      },
    );
    try {
      const upload = await relay.intake.submit({ action: 'upload', path: '/user_homes/a', size: 3 }, 'node-a');
      const del = await relay.intake.submit({ action: 'delete', path: '/user_homes/a' }, 'node-a');
      if (!upload.journaled || !del.journaled) throw new Error('not journaled');
      // The replay worker receives the delete, finds it behind the upload, acknowledges its message.
      const first = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      expect(first.Messages?.map((m) => (JSON.parse(m.Body!) as { id: string }).id)).toEqual([del.id]);
      await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: first.Messages![0]!.ReceiptHandle! }));
      // Real SQS drops a message whose deduplication id it saw in the last 5 minutes, deleted or not; moto only
      // compares with messages still queued, so the ids sent are recorded and compared here.
      const sent: string[] = [];
      const send = relay.sqs.send.bind(relay.sqs);
      (relay.sqs as { send: unknown }).send = (command: unknown, ...rest: unknown[]) => {
        if (command instanceof SendMessageBatchCommand) {
          for (const e of command.input.Entries ?? []) {
            sent.push(`${(JSON.parse(e.MessageBody!) as { id: string }).id} ${e.MessageDeduplicationId}`);
          }
        }
        return (send as (...args: unknown[]) => unknown)(command, ...rest);
      };
      await relay.intake.abandon(upload.id, 'node-a');
      const released = sent.filter((s) => s.startsWith(`${del.id} `));
      expect(released).toHaveLength(1); // the delete is rung again ...
      expect(released[0]).not.toBe(`${del.id} ${LANE2}.${del.id}`); // ... not as its first ring
    } finally {
      await relay.close();
      sqs.destroy();
    }
  });
});
