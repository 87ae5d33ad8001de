import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { expect, it, vi } from 'vitest';
import { type Logger, silentLogger } from '../../src/core/logger.js';
import { S3EntryClaims } from '../../src/runtime/cloud/entry-claims.js';
import { freshBucket, motoAvailable, useMotoS3 } from '../support/moto.js';
import { describeWithServer } from '../support/servers.js';

const LANE = 'a'.repeat(16);
const ref = (id: string) => ({ lane: LANE, id });

describeWithServer('moto_server', motoAvailable, 'S3EntryClaims against moto_server', () => {
  const s3 = useMotoS3();

  async function keys(bucket: string): Promise<string[]> {
    const page = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'relay/' }));
    return (page.Contents ?? []).map((o) => o.Key!).sort();
  }

  // S3 makes a conditional PUT atomic; moto_server checks the condition and writes without a lock, so racing
  // requests can all pass it there. The takers below therefore come one after the other: what is tested is how
  // the claims use the conditions, not S3's atomicity.

  it('lets one taker at a time hold an entry, and frees it on release', async () => {
    const bucket = await freshBucket(s3.client);
    const processes = Array.from({ length: 3 }, () => new S3EntryClaims(s3.client, bucket, 'relay'));
    const taken = [];
    for (const p of processes) taken.push(await p.take(ref('e1')));
    expect(taken.map(Boolean)).toEqual([true, false, false]);
    expect(await keys(bucket)).toEqual([`relay/claims/${LANE}/e1`]);
    // Another entry is independent.
    const other = await processes[0]!.take(ref('e2'));
    expect(other).toBeDefined();

    await taken.find(Boolean)!.release();
    expect(await keys(bucket)).toEqual([`relay/claims/${LANE}/e2`]);
    const again = await processes[1]!.take(ref('e1'));
    expect(again).toBeDefined();
    await again!.release();
    await other!.release();
    expect(await keys(bucket)).toEqual([]);
  });

  it('takes over a claim left by a process that died, once it is older than the time to live', async () => {
    const bucket = await freshBucket(s3.client);
    const logged: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (message) => void logged.push(message) };
    const dead = new S3EntryClaims(s3.client, bucket, 'relay');
    expect(await dead.take(ref('e1'))).toBeDefined(); // never released: its process was killed

    const live = new S3EntryClaims(s3.client, bucket, 'relay', { ttlMs: 60_000 });
    expect(await live.take(ref('e1'))).toBeUndefined(); // still fresh

    // Later (S3's Last-Modified has one-second resolution) a process finds the claim stale and takes it over
    // (If-Match on the stale ETag); to anyone else the rescuer's claim is fresh.
    const later = () => Date.now() + 120_000;
    const rescuer = new S3EntryClaims(s3.client, bucket, 'relay', { ttlMs: 60_000, now: later, logger });
    const rescued = await rescuer.take(ref('e1'));
    expect(rescued).toBeDefined();
    // The dead holder may have rewritten the entry before it died: the rescuer reads it again.
    expect(rescued!.rewritten).toBe(true);
    expect(await live.take(ref('e1'))).toBeUndefined();
    expect(logged).toEqual(['took over the claim of a process that stopped while replaying an entry']);
    const body = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: `relay/claims/${LANE}/e1` }));
    expect(JSON.parse(await body.Body!.transformToString())).toMatchObject({ token: expect.any(String) });
    await rescued!.release();
    expect(await keys(bucket)).toEqual([]);
  });

  it('a holder whose claim was taken over notices it, and its release leaves the new claim alone', async () => {
    const bucket = await freshBucket(s3.client);
    const holder = await new S3EntryClaims(s3.client, bucket, 'relay', { ttlMs: 3_000 }).take(ref('e1'));
    expect(holder).toBeDefined();
    // A process whose clock says the claim is long stale (the holder seemed dead) takes it over.
    const later = () => Date.now() + 10 * 60_000;
    const rescuer = await new S3EntryClaims(s3.client, bucket, 'relay', { ttlMs: 3_000, now: later }).take(ref('e1'));
    expect(rescuer).toBeDefined();
    // The holder's next renewal (every second) finds it taken: wait for that event, however long the machine takes.
    await new Promise<void>((resolve) => {
      if (holder!.signal.aborted) resolve();
      else holder!.signal.addEventListener('abort', () => resolve());
    });
    expect(holder!.lost).toBe(true);
    expect(rescuer!.lost).toBe(false);
    await holder!.release();
    expect(await keys(bucket)).toEqual([`relay/claims/${LANE}/e1`]);
    await rescuer!.release();
    expect(await keys(bucket)).toEqual([]);
  });

  it('a holder that cannot renew its claim for a time to live gives it up (aborts) before another may take it', async () => {
    const bucket = await freshBucket(s3.client);
    // Renewals (PUTs with If-Match) fail, as they would with S3 unreachable from this process only.
    let renewals = 0;
    const cut = new Proxy(s3.client, {
      get(target, prop, receiver) {
        if (prop !== 'send') return Reflect.get(target, prop, receiver);
        return async (command: { input: { IfMatch?: string } }) => {
          if (command instanceof PutObjectCommand && command.input.IfMatch) {
            renewals += 1;
            throw Object.assign(new Error('connect ETIMEDOUT'), { code: 'ETIMEDOUT' });
          }
          return target.send(command as never);
        };
      },
    });
    const logged: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (message) => void logged.push(message) };
    const started = Date.now();
    const claim = await new S3EntryClaims(cut, bucket, 'relay', { ttlMs: 3_000, logger }).take(ref('e1'));
    expect(claim).toBeDefined();
    const aborted = new Promise<number>((resolve) =>
      claim!.signal.addEventListener('abort', () => resolve(Date.now() - started)),
    );
    // Not before its time to live (3 s) by its own clock: others wait that long plus a minute of clock slack. (A
    // slow machine can only make it later; how much later is not this test's business.)
    expect(await aborted).toBeGreaterThanOrEqual(2_900);
    expect(claim!.lost).toBe(true);
    expect(renewals).toBeGreaterThanOrEqual(1); // tried every second, none went through
    expect(logged).toContain(
      'could not renew the claim on an entry in time: its replay stops; the process that takes the entry over completes it',
    );
    // Given up, not taken over: its release still deletes the claim if it is still its own, freeing the entry.
    await claim!.release();
    expect(await keys(bucket)).toEqual([]);
  });

  it('recognises its own claim when the answer to its conditional PUT was lost and the retry refused', async () => {
    const bucket = await freshBucket(s3.client);
    // The PUT reaches S3, but the answer is lost; the SDK's retry then fails the condition (412).
    const flaky = new Proxy(s3.client, {
      get(target, prop, receiver) {
        if (prop !== 'send') return Reflect.get(target, prop, receiver);
        return async (command: { input: { IfNoneMatch?: string } }) => {
          const out = await target.send(command as never);
          if (command instanceof PutObjectCommand && command.input.IfNoneMatch === '*') {
            throw Object.assign(new Error('At least one of the pre-conditions you specified did not hold'), {
              name: 'PreconditionFailed',
              $metadata: { httpStatusCode: 412 },
            });
          }
          return out;
        };
      },
    });
    const claim = await new S3EntryClaims(flaky, bucket, 'relay').take(ref('e1'));
    expect(claim).toBeDefined();
    expect(await new S3EntryClaims(s3.client, bucket, 'relay').take(ref('e1'))).toBeUndefined();
    await claim!.release();
    expect(await keys(bucket)).toEqual([]);
  });

  it('a holder that rewrote the entry leaves a note: the next taker gets it at once, told to read the entry again', async () => {
    const bucket = await freshBucket(s3.client);
    const logged: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (message) => void logged.push(message) };
    const [parker, second, third] = Array.from({ length: 3 }, () => new S3EntryClaims(s3.client, bucket, 'relay'));
    const first = await parker!.take(ref('e1'));
    expect(first?.rewritten).toBe(false);
    await first!.release({ entryRewritten: true }); // parked it, say
    const key = `relay/claims/${LANE}/e1`;
    expect(await keys(bucket)).toEqual([key]);
    const note = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    expect(JSON.parse(await note.Body!.transformToString())).toMatchObject({ released: true });

    // Not a live holder: taken over at once (no time to live to wait for), and not reported as a dead process.
    const taker = new S3EntryClaims(s3.client, bucket, 'relay', { logger });
    const next = await taker.take(ref('e1'));
    expect(next?.rewritten).toBe(true);
    expect(logged).toEqual([]);
    // Held again: nobody else takes it meanwhile.
    expect(await second!.take(ref('e1'))).toBeUndefined();
    // Released with the note passed on, the next taker is told as well; a plain release then deletes the claim.
    await next!.release({ entryRewritten: true });
    const after = await third!.take(ref('e1'));
    expect(after?.rewritten).toBe(true);
    await after!.release();
    expect(await keys(bucket)).toEqual([]);
    const fresh = await second!.take(ref('e1'));
    expect(fresh?.rewritten).toBe(false);
    // A completed entry's kept claim is no note: it turns deliveries away.
    fresh!.keep();
    await fresh!.release({ entryRewritten: true });
    expect(await third!.take(ref('e1'))).toBeUndefined();
  });

  it('leaves its note even when a renewal went through but its answer was lost', async () => {
    const bucket = await freshBucket(s3.client);
    // The first renewal (a PUT with If-Match) reaches S3, then fails: the holder never hears the claim's new ETag.
    let renewed!: () => void;
    const renewal = new Promise<void>((resolve) => (renewed = resolve));
    let failed = false;
    const lossy = new Proxy(s3.client, {
      get(target, prop, receiver) {
        if (prop !== 'send') return Reflect.get(target, prop, receiver);
        return async (command: { input: { IfMatch?: string; Body?: string } }) => {
          const out = await target.send(command as never);
          const isRenewal =
            command instanceof PutObjectCommand && command.input.IfMatch && !command.input.Body?.includes('released');
          if (isRenewal && !failed) {
            failed = true;
            renewed();
            throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
          }
          return out;
        };
      },
    });
    const holder = await new S3EntryClaims(lossy, bucket, 'relay', { ttlMs: 3_000 }).take(ref('e1'));
    expect(holder).toBeDefined();
    await renewal; // renewed every second: wait for it, however long the machine takes
    await holder!.release({ entryRewritten: true });
    const note = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: `relay/claims/${LANE}/e1` }));
    expect(JSON.parse(await note.Body!.transformToString())).toMatchObject({ released: true });
    const next = await new S3EntryClaims(s3.client, bucket, 'relay').take(ref('e1'));
    expect(next?.rewritten).toBe(true);
    await next!.release();
  });

  it('deletes only the claims of gone entries written before the given time', async () => {
    const bucket = await freshBucket(s3.client);
    const claims = new S3EntryClaims(s3.client, bucket, 'relay');
    for (const id of ['present', 'gone']) await claims.take(ref(id));
    const cutoff = new Date(Date.now() + 5_000); // both were written before it
    expect(await claims.removeOrphans((r) => r.id === 'present', cutoff)).toBe(1);
    expect(await keys(bucket)).toEqual([`relay/claims/${LANE}/present`]);
    // A claim of an entry the sweep did not see, written after it listed the lanes, is not touched.
    await claims.take(ref('newer'));
    expect(await claims.removeOrphans((r) => r.id === 'present', new Date(Date.now() - 60_000))).toBe(0);
    expect(await keys(bucket)).toEqual([`relay/claims/${LANE}/newer`, `relay/claims/${LANE}/present`]);
  });

  it('renews a claim while it is held, so that a long replay is not taken over', async () => {
    const bucket = await freshBucket(s3.client);
    const holder = new S3EntryClaims(s3.client, bucket, 'relay', { ttlMs: 3_000 });
    const claim = await holder.take(ref('e1'));
    expect(claim).toBeDefined();
    const first = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: `relay/claims/${LANE}/e1` }));
    await first.Body!.transformToString();
    // Renewed every ttl/3 = 1 s: wait until the object is rewritten (bounded), rather than sleep and hope.
    await vi.waitFor(
      async () => {
        const renewed = await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: `relay/claims/${LANE}/e1` }));
        await renewed.Body!.transformToString();
        expect(renewed.LastModified!.getTime()).toBeGreaterThan(first.LastModified!.getTime());
      },
      { timeout: 30_000, interval: 250 },
    );
    const other = new S3EntryClaims(s3.client, bucket, 'relay', { ttlMs: 3_000 });
    expect(await other.take(ref('e1'))).toBeUndefined();
    await claim!.release();
  });
});
