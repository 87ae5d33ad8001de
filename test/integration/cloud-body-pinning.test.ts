import { createHash } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { S3JournalStore } from '../../src/adapters/s3-journal/store.js';
import { WebDavPeer } from '../../src/adapters/webdav/peer.js';
import type { JournalEntry } from '../../src/core/entry.js';
import { ChangeIntake } from '../../src/core/intake.js';
import { silentLogger } from '../../src/core/logger.js';
import type { Peer } from '../../src/core/peer.js';
import { StampClock } from '../../src/core/stamp.js';
import { Topology } from '../../src/core/topology.js';
import { S3PeerStateStore } from '../../src/runtime/cloud/peer-state.js';
import { CloudReplayWorker } from '../../src/runtime/cloud/replay-worker.js';
import { SharedPeerHealth } from '../../src/runtime/cloud/shared-health.js';
import { S3WaitList } from '../../src/runtime/cloud/wait-list.js';
import { type ApachePeer, apacheAvailable, startApache } from '../support/apache.js';
import { freshBucket, motoAvailable, useMotoS3 } from '../support/moto.js';
import { describeWithServer } from '../support/servers.js';

// Issue #11 item 10: in cloud mode, replay reads exactly the body verified at commit. A node (or whoever holds the
// presigned URL) that PUTs another body after the commit gets it into S3, but never onto a peer.

describeWithServer(
  'moto_server and Apache httpd',
  motoAvailable && apacheAvailable,
  'cloud mode: the body replayed is the body verified at commit',
  () => {
    const s3 = useMotoS3();
    let apache: ApachePeer;
    beforeAll(async () => {
      apache = await startApache();
    });
    afterAll(async () => {
      await apache?.close();
    });

    async function rig() {
      const bucket = await freshBucket(s3.client);
      const store = new S3JournalStore(s3.client, bucket, 'relay');
      const peerRefs = [{ name: 'server2' }, { name: 'server3' }];
      const intake = new ChangeIntake({
        store,
        doorbell: { ring: async () => {} },
        clock: new StampClock(),
        topology: new Topology([{ path: '/user_homes', replicate: true }], peerRefs),
        replicationUser: 'replication',
      });
      const peers = new Map<string, Peer>(
        peerRefs.map((p) => [
          p.name,
          new WebDavPeer({ name: p.name, url: apache.url, username: apache.username, password: apache.password }),
        ]),
      );
      const health = new SharedPeerHealth({
        peers,
        store: new S3PeerStateStore(s3.client, bucket, 'relay'),
        logger: silentLogger,
      });
      const worker = new CloudReplayWorker({
        store,
        peers,
        health,
        waitList: new S3WaitList(s3.client, bucket, 'relay'),
        redrive: async () => 0,
        logger: silentLogger,
      });
      /** Change, body through its presigned URL, commit: what a node does. Returns the URL for a second PUT. */
      const upload = async (path: string, body: Buffer) => {
        const submitted = await intake.submit(
          { action: 'upload', path, size: body.length, sha256: createHash('sha256').update(body).digest('hex') },
          'node-a',
        );
        if (!submitted.journaled) throw new Error('not journaled');
        const target = await store.uploadTarget(submitted.entries[0]!);
        const put = async (bytes: Buffer) => {
          const { 'content-length': _length, ...headers } = target.headers;
          const res = await fetch(target.url, { method: 'PUT', headers, body: bytes });
          expect(res.status).toBe(200);
        };
        await put(body);
        const committed = await intake.commit(submitted.id, 'node-a');
        return { committed, put };
      };
      const close = async () => {
        for (const p of peers.values()) await p.close();
        await store.close();
      };
      return { store, worker, upload, close };
    }

    it('records the ETag of every lane copy at commit, and replays those bodies', async () => {
      const { store, worker, upload, close } = await rig();
      const body = Buffer.from('the verified body');
      const { committed } = await upload('/user_homes/pinned/ok.txt', body);
      expect(committed).toHaveLength(2);
      for (const entry of committed) {
        const stored = (await store.read(entry))!;
        expect(stored.bodyEtag).toMatch(/^"[0-9a-f-]+"$/);
        expect(await worker.replay(stored)).toBe('applied');
      }
      const tree = await apache.tree();
      expect(tree.get('user_homes/pinned/ok.txt')).toBe(createHash('sha256').update(body).digest('hex'));
      await close();
    });

    it('parks FAILED, with a clear reason, an upload whose body was PUT again after commit; nothing reaches the peer', async () => {
      const { store, worker, upload, close } = await rig();
      const path = '/user_homes/pinned/replaced.txt';
      const body = Buffer.from('what the node committed');
      const { committed, put } = await upload(path, body);
      // The presigned URL is still valid: PUT something else (moto does not check the signed checksum; S3 would
      // refuse a different body under the same checksum, but not a second PUT of its own kind).
      await put(Buffer.from('something else entirely'));

      const [home, other] = committed as [JournalEntry, JournalEntry]; // the URL was for the first lane's body
      const before = (await apache.requests()).length;
      expect(await worker.replay(home)).toBe('parked');
      expect((await apache.requests()).length).toBe(before); // not even the MKCOL of its folder
      const parked = (await store.read(home)) as JournalEntry;
      expect(parked).toMatchObject({ status: 'FAILED', attempts: 1 });
      expect(parked.lastError).toMatch(/was replaced after it was verified at commit/);
      expect((await apache.tree()).has(path.slice(1))).toBe(false);

      // The other lane's copy was made at commit from the verified body: it replays that body.
      expect(await worker.replay((await store.read(other))!)).toBe('applied');
      expect((await apache.tree()).get(path.slice(1))).toBe(createHash('sha256').update(body).digest('hex'));
      await close();
    });

    it('checks the SHA-256 on the way for entries committed before ETags were recorded', async () => {
      const { store, worker, upload, close } = await rig();
      const path = '/user_homes/pinned/older.txt';
      const body = Buffer.alloc(300 * 1024, 1);
      const { committed, put } = await upload(path, body);
      const home = committed[0]!; // the URL was for the first lane's body
      const { bodyEtag: _etag, ...unpinned } = (await store.read(home))!;
      await store.update(unpinned); // as an older relay wrote it
      await put(Buffer.alloc(body.length, 2)); // same size, other bytes

      expect(await worker.replay(unpinned)).toBe('parked');
      const parked = (await store.read(home)) as JournalEntry;
      expect(parked).toMatchObject({ status: 'FAILED' });
      expect(parked.lastError).toMatch(/is not the body verified at commit \(SHA-256 [0-9a-f]{64}\)/);
      // The PUT was cut off before its last bytes: mod_dav never stored the file.
      expect((await apache.tree()).has(path.slice(1))).toBe(false);
      await close();
    });
  },
);
