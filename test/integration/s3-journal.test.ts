import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import {
  GetObjectTaggingCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { PARKED_TAG_KEY, S3JournalStore, type S3JournalWarning } from '../../src/adapters/s3-journal/store.js';
import { mapLimit } from '../../src/adapters/s3-journal/util.js';
import { encodeEntry } from '../../src/core/entry-xml.js';
import { laneId } from '../../src/core/lane.js';
import { entry, journalStoreConformance } from '../support/journal-conformance.js';
import { freshBucket, motoAvailable, motoS3Client, useMotoS3 } from '../support/moto.js';
import { describeWithServer } from '../support/servers.js';

const MiB = 1024 * 1024;
const OTHER_LANE = laneId('/user_homes', 'server3');

describeWithServer('moto_server', motoAvailable, 'S3JournalStore against moto_server', () => {
  const s3 = useMotoS3();

  /** A fresh bucket and prefix, and a store on it. */
  async function fresh(options: ConstructorParameters<typeof S3JournalStore>[3] = {}) {
    const bucket = await freshBucket(s3.client);
    const prefix = `relay/${randomBytes(3).toString('hex')}`;
    return { bucket, prefix, store: new S3JournalStore(s3.client, bucket, prefix, options) };
  }

  async function keysOf(bucket: string, prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3.client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      );
      keys.push(...(page.Contents ?? []).map((o) => o.Key!));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  }

  journalStoreConformance('s3 (moto)', async () => {
    const { bucket, prefix, store: first } = await fresh();
    let store = first;
    return {
      get store() {
        return store;
      },
      reopen: async () => {
        await store.close();
        store = new S3JournalStore(s3.client, bucket, prefix);
        return store;
      },
      cleanup: async () => {
        await store.close();
      },
    };
  });

  describe('S3 specifics', () => {
    // An API function verifies bodies whose entries the replay function purges: the digests it kept grew with
    // every upload (found by a review of the code). They are bounded now; one forgotten is hashed again.
    // Found by a review of that bound: publish took a digest no longer kept for "nothing verified" and pinned whatever
    // body was there, so a body PUT again to its presigned URL after the commit's check was no longer refused.
    it('a body replaced after the commit checked it fails the publish, also once its digest is forgotten', async () => {
      for (const kept of [10, 1]) {
        const { bucket, store } = await fresh({ digestCacheSize: kept });
        const abc = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
        const a = entry({ action: 'upload', path: '/user_homes/a', size: 3, sha256: abc, status: 'AWAITING_BODY' });
        const b = entry({ action: 'upload', path: '/user_homes/b', size: 3, status: 'AWAITING_BODY' });
        await store.create([a, b], { durable: false });
        await store.writeBody(a, Readable.from([Buffer.from('abc')]), 3);
        expect((await store.bodyDigest(a))?.sha256).toBe(abc); // the commit's check
        await store.writeBody(b, Readable.from([Buffer.from('def')]), 3); // another upload in the same process
        await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: store.keys.body(a), Body: 'xyz' }));
        await expect(store.publish([{ ...a, status: 'PENDING' }], a), `kept ${kept}`).rejects.toMatchObject({
          code: 'BODY_CHANGED',
        });
      }
    });

    it('keeps the digests of the newest bodies only, and hashes a forgotten one again', async () => {
      const { store } = await fresh({ digestCacheSize: 2 });
      const uploads = [1, 2, 3].map((n) =>
        entry({ action: 'upload', path: `/user_homes/f${n}`, size: 3, status: 'AWAITING_BODY' }),
      );
      await store.create(uploads, { durable: false });
      for (const upload of uploads) await store.writeBody(upload, Readable.from([Buffer.from('abc')]), 3);
      expect(store.digestsKept).toBe(2);
      expect(await store.bodyDigest(uploads[0]!)).toEqual({
        size: 3,
        sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
      });
      expect(store.digestsKept).toBe(2);
    });

    it('lays entries out as <prefix>/multi_journal/<lane>/<id>/config.XML and upload', async () => {
      const { bucket, prefix, store } = await fresh();
      const plain = entry();
      const upload = entry({ action: 'upload', size: 3, status: 'AWAITING_BODY' });
      const twin = { ...upload, lane: OTHER_LANE, peer: 'server3' };
      await store.create([plain, upload, twin], { durable: false });
      await store.writeBody(upload, Readable.from([Buffer.from('abc')]), 3);
      await store.publish(
        [
          { ...upload, status: 'PENDING' },
          { ...twin, status: 'PENDING' },
        ],
        upload,
      );
      const j = `${prefix}/multi_journal`;
      expect(await keysOf(bucket, '')).toEqual(
        [
          `${j}/${plain.lane}/${plain.id}/config.XML`,
          `${j}/${upload.lane}/${upload.id}/config.XML`,
          `${j}/${upload.lane}/${upload.id}/upload`,
          `${j}/${twin.lane}/${twin.id}/config.XML`,
          `${j}/${twin.lane}/${twin.id}/upload`,
        ].sort(),
      );
      const xml = await s3.client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: `${j}/${plain.lane}/${plain.id}/` }),
      );
      expect(xml.Contents?.map((o) => o.Size)).toEqual([Buffer.byteLength(encodeEntry(plain))]);
      await store.purge(upload);
      expect(await keysOf(bucket, `${j}/${upload.lane}/${upload.id}/`)).toEqual([]);
      expect(await keysOf(bucket, `${j}/${twin.lane}/${twin.id}/`)).toHaveLength(2);
    });

    it('tags a parked entry (config.XML and body) for the retention rule, and untags it on retry', async () => {
      const { bucket, prefix, store } = await fresh();
      const upload = entry({ action: 'upload', size: 3, status: 'AWAITING_BODY' });
      await store.create([upload], { durable: false });
      await store.writeBody(upload, Readable.from([Buffer.from('abc')]), 3);
      await store.publish([{ ...upload, status: 'PENDING' }], upload);
      const base = `${prefix}/multi_journal/${upload.lane}/${upload.id}`;
      const tags = async (name: string) =>
        (await s3.client.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: `${base}/${name}` }))).TagSet ?? [];
      expect(await tags('config.XML')).toEqual([]);
      await store.update({ ...upload, status: 'CONFLICT', attempts: 1, lastError: 'HTTP 409' });
      const parked = [{ Key: PARKED_TAG_KEY, Value: 'true' }];
      expect(await tags('config.XML')).toEqual(parked);
      expect(await tags('upload')).toEqual(parked);
      await store.update({ ...upload, status: 'PENDING', attempts: 1 });
      expect(await tags('config.XML')).toEqual([]);
      expect(await tags('upload')).toEqual([]);
    });

    it("a retry whose body's untagging fails leaves the entry parked (retry again), never PENDING with a tagged body", async () => {
      const { bucket, prefix, store } = await fresh();
      const upload = entry({ action: 'upload', size: 3, status: 'AWAITING_BODY' });
      await store.create([upload], { durable: false });
      await store.writeBody(upload, Readable.from([Buffer.from('abc')]), 3);
      await store.publish([{ ...upload, status: 'PENDING' }], upload);
      await store.update({ ...upload, status: 'FAILED', attempts: 1, lastError: 'x' });
      const faulty = motoS3Client(s3.endpoint);
      faulty.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === 'DeleteObjectTaggingCommand') {
            throw Object.assign(new Error('SlowDown'), { name: 'SlowDown', $metadata: { httpStatusCode: 503 } });
          }
          return next(args);
        },
        { step: 'initialize' },
      );
      const failing = new S3JournalStore(faulty, bucket, prefix);
      await expect(failing.update({ ...upload, status: 'PENDING', attempts: 1 })).rejects.toThrow('SlowDown');
      faulty.destroy();
      expect((await store.read(upload))?.status).toBe('FAILED'); // still parked: the operator retries again
      await store.update({ ...upload, status: 'PENDING', attempts: 1 });
      const tags = async (name: string) =>
        (
          await s3.client.send(
            new GetObjectTaggingCommand({
              Bucket: bucket,
              Key: `${prefix}/multi_journal/${upload.lane}/${upload.id}/${name}`,
            }),
          )
        ).TagSet ?? [];
      expect(await tags('upload')).toEqual([]);
    });

    it("a commit copying a parked lane's body to another lane does not copy its parked tag", async () => {
      const { bucket, store } = await fresh();
      const home = entry({ action: 'upload', size: 3, status: 'AWAITING_BODY' });
      const twin = { ...home, lane: laneId('/user_homes', 'server3'), peer: 'server3' };
      await store.create([home, twin]);
      await store.writeBody(home, Readable.from([Buffer.from('abc')]), 3);
      // A commit cut short after the home lane's config.XML: home replays and parks FAILED (its body tagged); the
      // node commits again, which copies the home body to the lane still waiting.
      await store.publish([{ ...home, status: 'PENDING' }], home);
      await store.update({ ...(await store.read(home))!, status: 'FAILED', attempts: 5 });
      await store.bodyDigest(home);
      await store.publish([{ ...twin, status: 'PENDING' }], home);
      expect((await store.read(twin))?.status).toBe('PENDING');
      const copied = await s3.client.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: store.keys.body(twin) }));
      expect(copied.TagSet ?? []).toEqual([]);
    });

    it('takes a body PUT through a presigned URL; the commit-time digest is what proves it', async () => {
      const { store } = await fresh();
      const body = randomBytes(64 * 1024 + 3);
      const sha256 = createHash('sha256').update(body).digest('hex');
      const home = entry({ action: 'upload', size: body.length, sha256, status: 'AWAITING_BODY' });
      await store.create([home], { durable: false });
      const target = await store.uploadTarget(home);
      const response = await fetch(target.url, { method: target.method, headers: target.headers, body });
      expect(response.status).toBe(200);
      expect(await store.bodyDigest(home)).toEqual({ size: body.length, sha256 });

      // moto does not enforce the signed checksum (real S3 does): a wrong body lands, and the digest exposes it.
      const liar = entry({ action: 'upload', size: body.length, sha256, status: 'AWAITING_BODY' });
      await store.create([liar], { durable: false });
      const lie = await store.uploadTarget(liar);
      const wrong = Buffer.alloc(body.length, 1);
      expect((await fetch(lie.url, { method: 'PUT', headers: lie.headers, body: wrong })).status).toBe(200);
      expect((await store.bodyDigest(liar))?.sha256).not.toBe(sha256);
    });

    it('refuses to publish a body that changed after it was verified', async () => {
      const { store } = await fresh();
      const home = entry({ action: 'upload', size: 3, status: 'AWAITING_BODY' });
      const twin = { ...home, lane: OTHER_LANE, peer: 'server3' };
      await store.create([home, twin], { durable: false });
      await store.writeBody(home, Readable.from([Buffer.from('abc')]), 3);
      expect(await store.bodyDigest(home)).toMatchObject({ size: 3 });
      // A second PUT to the presigned URL after the commit verified the first one.
      const target = await store.uploadTarget(home);
      await fetch(target.url, { method: 'PUT', headers: target.headers, body: Buffer.from('xyz') });
      await expect(
        store.publish(
          [
            { ...home, status: 'PENDING' },
            { ...twin, status: 'PENDING' },
          ],
          home,
        ),
      ).rejects.toMatchObject({ code: 'BODY_CHANGED' });
      expect((await store.read(twin))?.status).toBe('AWAITING_BODY');
      expect((await store.read(home))?.status).toBe('AWAITING_BODY');
    });

    it('streams a 20 MiB body in through multipart and back out unchanged', async () => {
      const { bucket, prefix, store } = await fresh();
      const body = randomBytes(20 * MiB + 123);
      const sha256 = createHash('sha256').update(body).digest('hex');
      const home = entry({ action: 'upload', size: body.length, status: 'AWAITING_BODY' });
      await store.create([home]);
      // Many small chunks, as a socket delivers them.
      const chunks = function* () {
        for (let at = 0; at < body.length; at += 256 * 1024) yield body.subarray(at, at + 256 * 1024);
      };
      expect(await store.writeBody(home, Readable.from(chunks()), body.length)).toEqual({ size: body.length, sha256 });
      // Multipart uploads have an ETag ending in -<parts>: 20 MiB in 8 MiB parts is 3 parts.
      const listed = await s3.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/` }));
      expect(listed.Contents?.find((o) => o.Key?.endsWith('/upload'))?.ETag).toMatch(/-3"$/);
      const out = await buffer(await store.readBody(home));
      expect(out.length).toBe(body.length);
      expect(out.equals(body)).toBe(true);
      // After a restart the digest is taken by streaming the object.
      const reopened = new S3JournalStore(s3.client, bucket, prefix);
      expect(await reopened.bodyDigest(home)).toEqual({ size: body.length, sha256 });
    });

    it('refuses an oversized multipart body mid-stream and leaves nothing behind', async () => {
      const { bucket, prefix, store } = await fresh();
      const home = entry({ action: 'upload', size: 10 * MiB, status: 'AWAITING_BODY' });
      await store.create([home]);
      const chunks = function* () {
        for (let i = 0; i < 24; i++) yield Buffer.alloc(MiB, i);
      };
      await expect(store.writeBody(home, Readable.from(chunks()), 10 * MiB)).rejects.toMatchObject({
        code: 'PAYLOAD_TOO_LARGE',
      });
      expect(await store.bodyDigest(home)).toBeUndefined();
      expect((await keysOf(bucket, `${prefix}/`)).filter((k) => k.endsWith('/upload'))).toEqual([]);
      // The first 8 MiB part had gone out: the multipart upload was started, then aborted.
      const uploads = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
      expect(uploads.Uploads ?? []).toEqual([]);
    });

    it('copies bodies above the single-copy limit part by part', async () => {
      const { store } = await fresh({ singleCopyLimit: 5 * MiB, copyPartSize: 5 * MiB });
      const body = randomBytes(12 * MiB + 5);
      const home = entry({ action: 'upload', size: body.length, status: 'AWAITING_BODY' });
      const twin = { ...home, lane: OTHER_LANE, peer: 'server3' };
      await store.create([home, twin]);
      await store.writeBody(home, Readable.from([body]), body.length);
      await store.publish(
        [
          { ...home, status: 'PENDING' },
          { ...twin, status: 'PENDING' },
        ],
        home,
      );
      expect((await buffer(await store.readBody(twin))).equals(body)).toBe(true);
      const sha256 = createHash('sha256').update(body).digest('hex');
      expect(await new S3JournalStore(s3.client, store.bucket, store.prefix).bodyDigest(twin)).toEqual({
        size: body.length,
        sha256,
      });
    });

    it('skips a corrupt config.XML with one warning, and entries whose config.XML is missing', async () => {
      const warnings: S3JournalWarning[] = [];
      const { bucket, store } = await fresh({ onWarning: (w) => warnings.push(w) });
      const [a, b, c] = [entry(), entry(), entry()];
      await store.create([a, b, c]);
      await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: store.keys.config(b), Body: '<change><id>' }));
      // A body whose entry is gone (PUT to an old presigned URL after a purge): not an entry.
      const orphan = entry();
      await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: store.keys.body(orphan), Body: 'late' }));
      expect((await store.list(a.lane)).map((e) => e.id)).toEqual([a.id, c.id]);
      expect(await store.read(b)).toBeUndefined();
      expect((await store.list(a.lane)).map((e) => e.id)).toEqual([a.id, c.id]);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.message).toMatch(/unreadable config.XML/);
      expect(warnings[0]!.path).toBe(`s3://${bucket}/${store.keys.config(b)}`);
      // A config.XML copied into the wrong folder is not taken for the entry it claims to be.
      const misplaced = entry();
      await s3.client.send(
        new PutObjectCommand({ Bucket: bucket, Key: store.keys.config(misplaced), Body: encodeEntry(a) }),
      );
      expect(await store.read(misplaced)).toBeUndefined();
      expect(warnings.at(-1)!.message).toMatch(/not the entry it lies in/);
    });

    it('pages through more than 1,000 entries of one lane, oldest first, with cursors', {
      timeout: 90_000,
    }, async () => {
      // moto answers about 100 requests a second: 1,100 PUTs are most of this test's time.
      const { bucket, prefix, store } = await fresh();
      const entries = Array.from({ length: 1100 }, (_, i) => entry({ path: `/user_homes/p${i}` }));
      await mapLimit(entries, 16, (e) => store.create([e]));
      const lane = entries[0]!.lane;
      const ids = entries.map((e) => e.id);
      // The writer's cache holds every config.XML: the listing is two LIST pages, each entry checked by ETag.
      const all = await store.list(lane);
      expect(all.map((e) => e.id)).toEqual(ids);
      expect(all[1099]).toEqual(entries[1099]);
      // A fresh store reads each config.XML it lists; cursor and limit across the 1,000-key page boundary.
      const cold = new S3JournalStore(s3.client, bucket, prefix);
      const page = await cold.list(lane, { after: ids[995], limit: 10 });
      expect(page.map((e) => e.id)).toEqual(ids.slice(996, 1006));
      expect(page[4]).toEqual(entries[1000]);
      expect((await cold.list(lane, { after: ids[1090] })).map((e) => e.id)).toEqual(ids.slice(1091));
      expect(await cold.list(lane, { after: ids[1099] })).toEqual([]);
      expect(await cold.newestId()).toBe(ids[1099]);
      expect(await cold.lanes()).toEqual([lane]);
    });

    it('does not bring back an entry purged while it was being updated', async () => {
      const { store } = await fresh();
      const e = entry();
      await store.create([e]);
      const other = new S3JournalStore(s3.client, store.bucket, store.prefix);
      expect(await other.read(e)).toEqual(e); // caches its ETag
      await store.purge(e);
      await expect(other.update({ ...e, status: 'CONFLICT' })).rejects.toMatchObject({ code: 'CHANGE_NOT_FOUND' });
      expect(await store.read(e)).toBeUndefined();
      // A concurrent rewrite by another process: the update still lands (last writer wins).
      const f = entry();
      await store.create([f]);
      await other.read(f);
      await store.update({ ...f, attempts: 1 });
      await other.update({ ...f, attempts: 2 });
      expect((await store.read(f))?.attempts).toBe(2);
    });

    it('opens from an s3:// URL with the standard AWS environment', async () => {
      const bucket = await freshBucket(s3.client);
      const store = S3JournalStore.fromUrl(`s3://${bucket}/from/url/`, {
        region: 'us-east-1',
        endpoint: s3.endpoint,
        credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      });
      const e = entry();
      await store.create([e]);
      expect(await keysOf(bucket, '')).toEqual([`from/url/multi_journal/${e.lane}/${e.id}/config.XML`]);
      await store.close();
    });
  });
});
