import { describe, expect, it } from 'vitest';
import {
  deduplicationId,
  fitSqsId,
  groupKey,
  MAX_SQS_ID_LENGTH,
  messageGroupId,
} from '../../src/adapters/sqs-doorbell/groups.js';
import {
  decodeMessage,
  encodeMessage,
  MalformedDoorbellMessageError,
} from '../../src/adapters/sqs-doorbell/message.js';
import { toSqsRecord } from '../../src/adapters/sqs-doorbell/poller.js';
import { parseQueueUrl } from '../../src/adapters/sqs-doorbell/queue.js';
import { CONFIG_LOCATION, laneId } from '../../src/core/lane.js';

const lane = laneId('/user_homes', 'server2');
const at = (path: string, location = '/user_homes') => ({ lane, location, path });
const ID = '20261127T055429693Z-000001-a1b2c3';

describe('MessageGroupId', () => {
  it('is decided by the path below the location (a rename: its source)', () => {
    expect(groupKey(at('/user_homes/john/a/b.txt'))).toBe('john/a/b.txt');
    expect(groupKey(at('/user_homes/john'))).toBe('john');
    expect(groupKey(at('/user_homes'))).toBeUndefined();
    expect(groupKey(at('/a/b', '/'))).toBe('a/b');
    expect(groupKey({ lane, location: CONFIG_LOCATION, path: '/.vfs-relay/config/users/john.xml' })).toBe(
      'users/john.xml',
    );
    expect(messageGroupId(at('/user_homes/john/a'))).toBe(messageGroupId(at('/user_homes/john/a')));
    expect(messageGroupId(at('/user_homes'))).toBe(`${lane}.root`);
  });

  it('spreads the files of one folder over the buckets', () => {
    const groups = new Set(Array.from({ length: 200 }, (_, i) => messageGroupId(at(`/user_homes/john/f${i}`))));
    expect(groups.size).toBe(16);
  });

  it('spreads folders over the buckets, stays within them, and is stable', () => {
    const groups = new Set(Array.from({ length: 200 }, (_, i) => messageGroupId(at(`/user_homes/user${i}/x`))));
    expect(groups.size).toBe(16);
    for (const group of groups) expect(group).toMatch(new RegExp(`^${lane}\\.g(0\\d|1[0-5])$`));
    expect(messageGroupId(at('/user_homes/john/x'), 1)).toBe(`${lane}.g0`);
    expect(messageGroupId(at('/user_homes/john/x'), 100)).toMatch(/\.g\d{2}$/);
    expect(() => messageGroupId(at('/user_homes/john/x'), 0)).toThrow(RangeError);
  });
});

describe('MessageDeduplicationId', () => {
  it('is <lane>.<id>, with the cause of a re-drive after it', () => {
    expect(deduplicationId({ lane, id: ID })).toBe(`${lane}.${ID}`);
    expect(deduplicationId({ lane, id: ID }, `after.${ID}`)).toBe(`${lane}.${ID}.after.${ID}`);
  });

  it('is hashed down to 128 printable characters when longer or not printable', () => {
    const long = deduplicationId({ lane, id: ID }, 'x'.repeat(200));
    expect(long).toHaveLength(MAX_SQS_ID_LENGTH);
    expect(long).toMatch(/^[\x21-\x7e]+$/);
    expect(long).not.toBe(deduplicationId({ lane, id: ID }, 'x'.repeat(201)));
    expect(fitSqsId('a b')).toMatch(/^a_b~[0-9a-f]{64}$/);
    expect(fitSqsId('x'.repeat(128))).toBe('x'.repeat(128));
  });
});

describe('doorbell messages and queues', () => {
  it('encodes {lane, id} and refuses anything else', () => {
    expect(decodeMessage(encodeMessage({ lane, id: ID }))).toEqual({ lane, id: ID });
    for (const body of ['', 'nope', '{}', JSON.stringify({ lane: 'x', id: ID }), JSON.stringify({ lane, id: '1' })]) {
      expect(() => decodeMessage(body)).toThrow(MalformedDoorbellMessageError);
    }
  });

  it('reads region, account and name from a queue URL and insists on FIFO', () => {
    expect(parseQueueUrl('https://sqs.eu-west-1.amazonaws.com/123456789012/relay.fifo')).toMatchObject({
      region: 'eu-west-1',
      arn: 'arn:aws:sqs:eu-west-1:123456789012:relay.fifo',
    });
    expect(parseQueueUrl('http://127.0.0.1:5000/123456789012/relay.fifo', 'us-east-1').region).toBe('us-east-1');
    expect(() => parseQueueUrl('https://sqs.eu-west-1.amazonaws.com/123456789012/relay')).toThrow(/FIFO/);
    expect(() => parseQueueUrl('not a url')).toThrow(/not an SQS queue URL/);
  });

  it('presents a received message as Lambda presents an SQS record', () => {
    const queue = parseQueueUrl('https://sqs.eu-west-1.amazonaws.com/123456789012/relay.fifo');
    const record = toSqsRecord(
      {
        MessageId: 'm1',
        ReceiptHandle: 'r1',
        Body: '{}',
        MD5OfBody: 'md5',
        Attributes: { MessageGroupId: 'g', MessageDeduplicationId: 'd', ApproximateReceiveCount: '2' },
      },
      queue,
    );
    expect(record).toMatchObject({
      messageId: 'm1',
      receiptHandle: 'r1',
      body: '{}',
      eventSource: 'aws:sqs',
      eventSourceARN: queue.arn,
      awsRegion: 'eu-west-1',
      attributes: { MessageGroupId: 'g', MessageDeduplicationId: 'd', ApproximateReceiveCount: '2' },
    });
  });
});
