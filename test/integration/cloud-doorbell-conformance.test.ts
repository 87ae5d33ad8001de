import { randomBytes } from 'node:crypto';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/logger.js';
import { startCloudServe } from '../../src/runtime/cloud/serve.js';
import { doorbellConformance, RecordingPeer } from '../support/doorbell-conformance.js';
import { freshBucket, type Moto, motoAvailable, motoS3Client, startMoto } from '../support/moto.js';
import { ADMIN_TOKEN } from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';

const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
let moto: Promise<Moto> | undefined;
afterAll(async () => {
  await (await moto)?.close();
});

describeWithServer('moto_server', motoAvailable, 'SQS FIFO doorbell with the cloud replay worker', () => {
  // The SQS doorbell rings through the queue; the serve process's poller and cloud worker are its consumer.
  doorbellConformance(
    'SQS FIFO (moto)',
    async () => {
      moto ??= startMoto();
      const { endpoint } = await moto;
      const s3 = motoS3Client(endpoint);
      const sqs = new SQSClient({ region: 'us-east-1', endpoint, credentials });
      const bucket = await freshBucket(s3);
      const queue = await sqs.send(
        new CreateQueueCommand({
          QueueName: `bell-${randomBytes(4).toString('hex')}.fifo`,
          Attributes: { FifoQueue: 'true', VisibilityTimeout: '30' },
        }),
      );
      const config = parseConfig(
        {
          listen: { host: '127.0.0.1', port: 0 },
          journal: `s3://${bucket}/relay`,
          queue: queue.QueueUrl,
          // pingIntervalSeconds 60: no sweep runs during a test, so only the doorbell can trigger replays.
          peers: [{ name: 'server2', url: 'http://127.0.0.1:9/', pingIntervalSeconds: 60 }],
          vfs: [{ path: '/user_homes' }],
          auth: { adminToken: ADMIN_TOKEN },
          // The peer is the recording adapter below; the delete guard's folder count would ask the (unreachable)
          // WebDAV URL itself and take the peer OFFLINE. This suite is about the doorbell's order, not the guard.
          deleteGuard: { maxDeletes: 0 },
        },
        {},
        'test',
      );
      const peer = new RecordingPeer();
      const relay = await startCloudServe(config, {
        logger: silentLogger,
        peers: new Map([[peer.name, peer]]),
        s3: { endpoint, region: 'us-east-1', forcePathStyle: true, credentials },
        sqs: { endpoint, region: 'us-east-1', credentials },
        poller: { waitTimeSeconds: 1 },
      });
      // The start-up sweep re-drives whatever it finds PENDING; let it finish so that only rings drive replays.
      await relay.sweep();
      return {
        store: relay.relay.store,
        doorbell: relay.relay.doorbell,
        peer,
        close: async () => {
          await relay.close();
          s3.destroy();
          sqs.destroy();
        },
      };
    },
    60_000,
  );
});
