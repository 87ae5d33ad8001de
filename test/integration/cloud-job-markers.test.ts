import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { expect, it } from 'vitest';
import { JobScope } from '../../src/core/jobs/scope.js';
import type { TreeReader } from '../../src/core/jobs/tree.js';
import type { JournalStore } from '../../src/core/journal.js';
import { silentLogger } from '../../src/core/logger.js';
import { StampClock } from '../../src/core/stamp.js';
import { CloudJobs } from '../../src/runtime/cloud/jobs/cloud-jobs.js';
import { S3JobStore } from '../../src/runtime/cloud/jobs/s3-job-store.js';
import { S3Objects } from '../../src/runtime/cloud/jobs/s3-objects.js';
import { freshBucket, motoAvailable, useMotoS3 } from '../support/moto.js';
import { describeWithServer } from '../support/servers.js';

/** The jobs of one API process: it creates jobs (no slice runs here; readers only name the servers). */
function apiProcess(objects: S3Objects, keepFinished?: number): CloudJobs {
  return new CloudJobs({
    keepFinished,
    s3: objects,
    store: {} as JournalStore,
    ring: async () => {},
    readers: new Map([
      ['primary', {} as TreeReader],
      ['server2', {} as TreeReader],
    ]),
    peers: ['server2'],
    scope: new JobScope([{ path: '/user_homes', replicate: true }]),
    clock: new StampClock(),
    logger: silentLogger,
  });
}

describeWithServer('moto_server', motoAvailable, 'cloud jobs: running markers against moto_server', () => {
  const s3 = useMotoS3();

  it('drops a running marker whose job record never came (its creation died), and keeps a young one', async () => {
    const bucket = await freshBucket(s3.client);
    const objects = new S3Objects(s3.client, bucket, 'relay');
    const store = new S3JobStore(objects);
    // A job is created marker first, then its record: a process that died in between left only the marker.
    const orphan = new StampClock(() => Date.now() - 10 * 60_000).next();
    const young = new StampClock().next(); // its record is being written right now
    await store.markRunning(orphan, true);
    await store.markRunning(young, false);
    const jobs = new CloudJobs({
      s3: objects,
      store: {} as JournalStore, // no job runs here: the slices only look at the markers
      ring: async () => {},
      readers: new Map(),
      peers: ['server2'],
      scope: new JobScope([{ path: '/user_homes', replicate: true }]),
      clock: new StampClock(),
      logger: silentLogger,
    });
    const report = await jobs.runSlices(Date.now() + 60_000);
    expect(report.jobs).toEqual([]);
    const page = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'relay/jobs-running/' }));
    expect((page.Contents ?? []).map((o) => o.Key)).toEqual([`relay/jobs-running/${young}.r`]);
  });

  it('two API processes creating a resync of one peer at once: one runs it, the other answers JOB_RUNNING', async () => {
    const bucket = await freshBucket(s3.client);
    const objects = new S3Objects(s3.client, bucket, 'relay');
    const [a, b] = [apiProcess(objects), apiProcess(objects)];
    const request = { from: 'primary', path: '/user_homes' };
    for (let round = 0; round < 3; round++) {
      const answers = await Promise.allSettled([
        a.create('resync', 'server2', request),
        b.create('resync', 'server2', request),
      ]);
      const made = answers.filter((r) => r.status === 'fulfilled');
      const refused = answers.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (round === 0) {
        expect(made).toHaveLength(1);
        expect(refused.map((r) => (r.reason as { code?: string }).code)).toEqual(['JOB_RUNNING']);
      } else {
        expect(made).toHaveLength(0); // the first still runs
      }
    }
    // A verify (no writes) needs no slot.
    await expect(a.create('verify', 'server2', request)).resolves.toMatchObject({ kind: 'verify' });
  });

  // docs/convergence.md says the relay keeps the last 100 finished jobs; cloud mode kept all of them (found by a
  // review): S3 job folders, and the cost of `GET /v1/jobs`, grew without end.
  it('keeps the newest finished jobs when a job is created, and never removes a running one', async () => {
    const bucket = await freshBucket(s3.client);
    const objects = new S3Objects(s3.client, bucket, 'relay');
    const store = new S3JobStore(objects);
    const jobs = apiProcess(objects, 2);
    const request = { from: 'primary', path: '/user_homes' };
    const finished: string[] = [];
    for (let i = 0; i < 4; i++) {
      const { id } = await jobs.create('verify', 'server2', request);
      const job = (await store.read(id))!;
      await store.save({ ...job, status: 'DONE', finishedAt: new Date().toISOString() });
      await store.unmarkRunning(id);
      finished.push(id);
    }
    const running = await jobs.create('verify', 'server2', request);
    expect(await store.ids()).toEqual([running.id, finished[3], finished[2]]);
    const left = await s3.client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: `relay/jobs/${finished[0]}/` }),
    );
    expect(left.Contents ?? []).toEqual([]);
    const kept = await s3.client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: `relay/jobs/${finished[3]}/` }),
    );
    expect(kept.Contents?.length).toBeGreaterThan(0);
  });

  it("takes over a peer's resync slot whose resync no longer runs (its creation died long ago)", async () => {
    const bucket = await freshBucket(s3.client);
    const objects = new S3Objects(s3.client, bucket, 'relay');
    const dead = new StampClock(() => Date.now() - 10 * 60_000).next();
    await objects.put('relay/jobs-resync/server2', dead);
    const made = await apiProcess(objects).create('resync', 'server2', { from: 'primary', path: '/user_homes' });
    expect(await objects.getText('relay/jobs-resync/server2')).toBe(made.id);
  });
});
