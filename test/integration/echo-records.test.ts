import { randomBytes } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, expect, it } from 'vitest';
import { S3ReplicaRecords } from '../../src/runtime/cloud/echo-records.js';
import { echoRecordsConformance, filterOn, replica, type TestClock } from '../support/echo-conformance.js';
import { freshBucket, motoAvailable, motoS3Client, useMotoS3 } from '../support/moto.js';
import { describeWithServer } from '../support/servers.js';

describeWithServer('moto_server', motoAvailable, 'S3ReplicaRecords against moto_server', () => {
  const s3 = useMotoS3();
  const clients: ReturnType<typeof motoS3Client>[] = [];
  afterAll(() => {
    for (const client of clients) client.destroy();
  });

  /** A fresh bucket and prefix; each handle is another process: its own S3 client on the same store. */
  async function fresh() {
    const bucket = await freshBucket(s3.client);
    const prefix = `relay/${randomBytes(3).toString('hex')}`;
    const handle = () => {
      const client = motoS3Client(s3.endpoint);
      clients.push(client);
      return new S3ReplicaRecords(client, bucket, prefix);
    };
    return { bucket, prefix, handle };
  }

  echoRecordsConformance('S3 (moto)', async () => {
    const { handle } = await fresh();
    return (_clock: TestClock) => handle;
  });

  it('keeps one object per fingerprint under <prefix>/echo/replicas/<node>/, its expiry in the metadata', async () => {
    const { bucket, prefix, handle } = await fresh();
    const clock = { t: Date.parse('2026-12-01T10:00:00Z') };
    await filterOn(handle(), clock).recordReplica(replica({ path: '/user_homes/john/a.txt' }));
    const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/echo/` }));
    const keys = (listed.Contents ?? []).map((o) => o.Key!);
    expect(keys).toHaveLength(2); // the file, and the folder /user_homes/john created for it
    for (const key of keys) expect(key).toMatch(new RegExp(`^${prefix}/echo/replicas/node-b/[0-9a-f]{64}$`));
    const head = await s3.client.send(new HeadObjectCommand({ Bucket: bucket, Key: keys[0]! }));
    expect(head.Metadata?.['expires-at']).toBe(String(clock.t + 1000));
  });

  it('counts echoes suppressed by concurrent processes in one shared object', async () => {
    const { bucket, prefix, handle } = await fresh();
    const processes = Array.from({ length: 4 }, () => handle());
    await Promise.all(processes.map((records) => records.countEcho('node-b')));
    await Promise.all(processes.map((records) => records.countEcho('node-b')));
    expect(await handle().echoCounts(['node-a', 'node-b'])).toEqual(
      new Map([
        ['node-a', 0],
        ['node-b', 8],
      ]),
    );
    const got = await s3.client.send(
      new GetObjectCommand({ Bucket: bucket, Key: `${prefix}/echo/counts/node-b.json` }),
    );
    expect(JSON.parse(await got.Body!.transformToString())).toEqual({ echoesSuppressed: 8 });
  });

  it('reads a damaged count as 0 and starts again from it; never throws while counting', async () => {
    const { bucket, prefix, handle } = await fresh();
    await s3.client.send(
      new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/echo/counts/node-b.json`, Body: 'not json' }),
    );
    const records = handle();
    await records.countEcho('node-b');
    expect((await records.echoCounts(['node-b'])).get('node-b')).toBe(1);
    const client = motoS3Client(s3.endpoint);
    clients.push(client);
    const lost = new S3ReplicaRecords(client, 'no-such-bucket-here', prefix);
    await expect(lost.countEcho('node-b')).resolves.toBeUndefined();
  });
});
