import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, expect, it } from 'vitest';
import { apacheAvailable, peerConfig, startApache } from '../support/apache.js';
import { type Child, spawnTs } from '../support/child.js';
import { freshBucket, motoAvailable, motoS3Client, startMoto } from '../support/moto.js';
import { postChange, waitFor } from '../support/node-client.js';
import { ADMIN_TOKEN, auth, NODE_A_TOKEN } from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';
import { mixedScript } from '../support/tree-model.js';

const CHILD = fileURLToPath(new URL('../support/cloud-child.ts', import.meta.url));
const MIN_KILLS = 5;
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

describeWithServer(
  'moto_server and Apache httpd',
  motoAvailable && apacheAvailable,
  'crash safety of cloud mode (vfs-relay serve on S3 + SQS)',
  () => {
    it(`drains exactly through ${MIN_KILLS}+ SIGKILLs of the relay`, async () => {
      const moto = await startMoto();
      cleanups.push(() => moto.close());
      const s3 = motoS3Client(moto.endpoint);
      const sqs = new SQSClient({
        region: 'us-east-1',
        endpoint: moto.endpoint,
        credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      });
      cleanups.push(async () => {
        s3.destroy();
        sqs.destroy();
      });
      const server = await startApache();
      cleanups.push(() => server.close());
      const bucket = await freshBucket(s3);
      const queue = await sqs.send(
        new CreateQueueCommand({
          QueueName: `crash-${randomBytes(4).toString('hex')}.fifo`,
          Attributes: { FifoQueue: 'true', VisibilityTimeout: '10' },
        }),
      );
      const config = JSON.stringify({
        listen: { host: '127.0.0.1', port: 0 },
        journal: `s3://${bucket}/relay`,
        queue: queue.QueueUrl,
        peers: [peerConfig(server, 'server2')],
        vfs: [{ path: '/user_homes' }],
        auth: { adminToken: ADMIN_TOKEN, nodeTokens: { 'node-a': NODE_A_TOKEN } },
      });
      const pending = async (child: Child) => {
        const [peer] = (await (await fetch(`${child.ready}/v1/peers`, { headers: auth(ADMIN_TOKEN) })).json()) as {
          pending: number;
          conflicts: number;
          failed: number;
        }[];
        return peer!;
      };
      // A killed relay's claims hold its entries until they expire: short-lived here (same clock as moto's), so that
      // a kill in the middle of a batch costs seconds, not minutes (the default is 2 minutes plus 1 of clock slack).
      const claims = JSON.stringify({ ttlMs: 5000, clockSlackMs: 1000 });
      const { changes, model } = mixedScript({ seed: 31, count: 40, base: '/user_homes/crash', maxBytes: 64 * 1024 });

      await server.stop();
      let child = await spawnTs(CHILD, [config, moto.endpoint, claims]);
      for (const change of changes) await postChange(child.ready, NODE_A_TOKEN, change);
      child.process.kill('SIGKILL');
      await child.exited;

      await server.start();
      let kills = 0;
      for (let round = 0; round < 30 && kills < MIN_KILLS; round++) {
        child = await spawnTs(CHILD, [config, moto.endpoint, claims]);
        await new Promise((r) => setTimeout(r, 300 + Math.floor(Math.random() * 1200)));
        const before = await pending(child);
        child.process.kill('SIGKILL');
        await child.exited;
        if (before.pending === 0) break;
        kills += 1;
      }
      expect(kills).toBeGreaterThanOrEqual(MIN_KILLS);

      child = await spawnTs(CHILD, [config, moto.endpoint, claims]);
      await waitFor(
        async () => {
          const p = await pending(child);
          return p.pending + p.conflicts + p.failed === 0;
        },
        120_000,
        async () => JSON.stringify(await pending(child)),
      );
      child.process.kill('SIGTERM');
      expect((await child.exited).code).toBe(0);
      expect([...(await server.tree())].filter(([p]) => p.startsWith('user_homes'))).toEqual([...model.sorted()]);
    }, 300_000);
  },
);
