import { expect, it } from 'vitest';
import { S3JournalStore } from '../../src/adapters/s3-journal/store.js';
import type { EntryRef, JournalEntry } from '../../src/core/entry.js';
import { laneId } from '../../src/core/lane.js';
import { silentLogger } from '../../src/core/logger.js';
import { dropEntries } from '../../src/core/operator.js';
import type { Peer, ReplayOutcome } from '../../src/core/peer.js';
import { StampClock } from '../../src/core/stamp.js';
import { S3EntryClaims } from '../../src/runtime/cloud/entry-claims.js';
import { S3PeerStateStore } from '../../src/runtime/cloud/peer-state.js';
import { withPurgeNotes } from '../../src/runtime/cloud/purge-notes.js';
import { CloudReplayWorker } from '../../src/runtime/cloud/replay-worker.js';
import { SharedPeerHealth } from '../../src/runtime/cloud/shared-health.js';
import { S3WaitList } from '../../src/runtime/cloud/wait-list.js';
import { freshBucket, motoAvailable, useMotoS3 } from '../support/moto.js';
import { describeWithServer } from '../support/servers.js';

const LANE = laneId('/user_homes', 'server2');
const clock = new StampClock();

function entry(fields: Partial<JournalEntry> & Pick<JournalEntry, 'action' | 'path'>): JournalEntry {
  return {
    lane: LANE,
    id: clock.next(),
    peer: 'server2',
    location: '/user_homes',
    createdAt: new Date().toISOString(),
    status: 'PENDING',
    attempts: 0,
    ...fields,
  };
}

/** A peer that records what it applied, in the order the requests completed; some requests can be held. */
class RecordingPeer implements Peer {
  readonly name = 'server2';
  readonly applied: string[] = [];
  readonly gates = new Map<string, Promise<void>>();
  readonly started = new Set<string>();
  async probe(): Promise<ReplayOutcome> {
    return { kind: 'applied' };
  }
  async apply(e: JournalEntry): Promise<ReplayOutcome> {
    this.started.add(e.id);
    await this.gates.get(e.id);
    this.applied.push(e.id);
    return { kind: 'applied' };
  }
  async close() {}
}

// Found by a review: a replay function that listed the lane and took an entry's claim within `keptMs` of the
// listing trusted the listing; an operator's skip purged the entry without a claim, so the skipped change was
// replayed after a newer change to its path. Operators' and jobs' purges now leave a note as the entry's claim.
describeWithServer(
  'moto_server',
  motoAvailable,
  'cloud replay: an entry skipped while a delivery holds its listing',
  () => {
    const s3 = useMotoS3();

    /** One cloud "process": its own store (cache), listings and claims handle, on the shared bucket. */
    function processOn(bucket: string, peer: Peer) {
      const store = new S3JournalStore(s3.client, bucket, 'relay');
      const peers = new Map([['server2', peer]]);
      const rings: { refs: EntryRef[]; cause: string }[] = [];
      const worker = new CloudReplayWorker({
        store,
        peers,
        health: new SharedPeerHealth({
          peers,
          store: new S3PeerStateStore(s3.client, bucket, 'relay'),
          logger: silentLogger,
        }),
        waitList: new S3WaitList(s3.client, bucket, 'relay'),
        claims: new S3EntryClaims(s3.client, bucket, 'relay'),
        redrive: async (refs, cause) => void rings.push({ refs: [...refs], cause }),
        logger: silentLogger,
      });
      return { store, worker, rings };
    }

    it('an entry the operator skipped is not replayed afterwards over a newer change to its path', async () => {
      const bucket = await freshBucket(s3.client);
      const peer = new RecordingPeer();
      const z = processOn(bucket, peer);
      const w = processOn(bucket, peer);

      // O: a slow change below /src. A: rename /src -> /dst (overlaps O). B: newer makedir /dst (overlaps A, not O).
      const o = entry({ action: 'makedir', path: '/user_homes/src/deep' });
      const a = entry({ action: 'rename', path: '/user_homes/src', target: '/user_homes/dst' });
      const b = entry({ action: 'makedir', path: '/user_homes/dst' });
      await z.store.create([o, a, b]);

      let releaseO!: () => void;
      peer.gates.set(
        o.id,
        new Promise<void>((r) => {
          releaseO = r;
        }),
      );

      // Process Z gets O and A in one SQS batch: A waits in the process for O (same listing).
      const batch = z.worker.batch();
      const replayO = batch.replay(o);
      const replayA = batch.replay(a);
      while (!peer.started.has(o.id)) await new Promise((r) => setTimeout(r, 20));
      // A waits in the process behind O (any moment before O ends will do: A takes its claim after O).
      await new Promise((r) => setTimeout(r, 200));

      // The operator skips A (DELETE /v1/changes/{id}); B, blocked behind A, is released and replayed elsewhere.
      await dropEntries(withPurgeNotes(w.store, s3.client, bucket, 'relay'), { ring: async () => {} }, [a]);
      expect(await w.worker.replay(b)).toBe('applied');

      releaseO();
      expect(await replayO).toBe('applied');
      const decisionA = await replayA;
      await batch.finish();

      // A was dropped from the journal before Z even claimed it; B (newer, same path /dst) was applied after the skip.
      // Z must not send A now: its MOVE /src -> /dst (Overwrite: T) would replace the newer /dst.
      expect({ decisionA, applied: peer.applied }).toEqual({ decisionA: 'gone', applied: [b.id, o.id] });
    }, 30_000);
  },
);
