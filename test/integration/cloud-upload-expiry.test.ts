import { createHash } from 'node:crypto';
import { expect, it } from 'vitest';
import { S3JournalStore } from '../../src/adapters/s3-journal/store.js';
import type { JournalEntry } from '../../src/core/entry.js';
import { ChangeIntake } from '../../src/core/intake.js';
import { StampClock } from '../../src/core/stamp.js';
import { Topology } from '../../src/core/topology.js';
import { freshBucket, motoAvailable, useMotoS3 } from '../support/moto.js';
import { describeWithServer } from '../support/servers.js';

/**
 * Expiring an upload in cloud mode, where its commit may come through another process at the same moment (the
 * per-change lock is one process's): the sweep removes an entry only while it still waits for its body (a
 * conditional delete in S3), so a commit the node was told succeeded is never dropped after it.
 */

describeWithServer('moto_server', motoAvailable, 'cloud: expiring an upload that another process commits', () => {
  const s3 = useMotoS3();
  const doorbell = { ring: async () => {} };
  const topology = () =>
    new Topology([{ path: '/user_homes', replicate: true }], [{ name: 'server2' }, { name: 'server3' }]);
  const twoHoursLater = () => new Date(Date.now() + 2 * 3600_000);

  /** A fresh bucket, and the API process's journal and intake on it. */
  async function apiProcess() {
    const bucket = await freshBucket(s3.client);
    const api = new S3JournalStore(s3.client, bucket, 'relay');
    const apiIntake = new ChangeIntake({
      store: api,
      doorbell,
      clock: new StampClock(),
      topology: topology(),
      replicationUser: 'r',
    });
    return { bucket, api, apiIntake };
  }

  /** The sweep process's intake on `store`, two hours after the uploads were opened. */
  const sweepIntake = (store: S3JournalStore) =>
    new ChangeIntake({
      store,
      doorbell,
      clock: new StampClock(),
      topology: topology(),
      replicationUser: 'r',
      now: twoHoursLater,
    });

  async function uploaded(api: S3JournalStore, intake: ChangeIntake, path: string) {
    const body = Buffer.from(`body of ${path}`);
    const sha256 = createHash('sha256').update(body).digest('hex');
    const opened = await intake.submit({ action: 'upload', path, size: body.length, sha256 }, 'node-a');
    if (!opened.journaled) throw new Error('not journaled');
    const target = await api.uploadTarget(opened.entries[0]!);
    expect((await fetch(target.url, { method: 'PUT', headers: target.headers, body })).status).toBe(200);
    return opened;
  }

  /** The sweep's store, running `meanwhile` (the API process's commit) when the drop first lists a lane. */
  function racing(store: S3JournalStore, meanwhile: () => Promise<unknown>): S3JournalStore {
    let ran = false;
    return new Proxy(store, {
      get(target, property, receiver) {
        if (property === 'list') {
          return async (...args: Parameters<S3JournalStore['list']>) => {
            if (!ran) {
              ran = true;
              await meanwhile();
            }
            return target.list(...args);
          };
        }
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  it('a commit that lands while the sweep drops the upload wins: nothing it acknowledged is removed', async () => {
    const { bucket, api, apiIntake } = await apiProcess();
    const opened = await uploaded(api, apiIntake, '/user_homes/big.iso');
    let acknowledged: JournalEntry[] | undefined;
    const sweepStore = racing(new S3JournalStore(s3.client, bucket, 'relay'), async () => {
      acknowledged = await apiIntake.commit(opened.id, 'node-a');
    });
    const sweep = sweepIntake(sweepStore);
    expect(await sweep.expireUpload(opened.id, 3600_000)).toEqual([]);
    expect(acknowledged?.map((e) => e.status)).toEqual(['PENDING', 'PENDING']);
    const stored = await Promise.all(opened.entries.map((e) => api.read(e)));
    expect(stored.map((e) => e?.status)).toEqual(['PENDING', 'PENDING']);
  });

  it('a commit that comes once the sweep has dropped the upload is refused, not acknowledged', async () => {
    const { bucket, api, apiIntake } = await apiProcess();
    const opened = await uploaded(api, apiIntake, '/user_homes/late.iso');
    const sweep = sweepIntake(new S3JournalStore(s3.client, bucket, 'relay'));
    expect(await sweep.expireUpload(opened.id, 3600_000)).toHaveLength(2);
    await expect(apiIntake.commit(opened.id, 'node-a')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await Promise.all(opened.entries.map((e) => api.read(e)))).toEqual([undefined, undefined]);
  });
});
