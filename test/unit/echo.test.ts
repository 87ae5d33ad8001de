import { describe, expect, it } from 'vitest';
import { MemoryReplicaRecords, type ReplicaRecords } from '../../src/core/echo.js';
import { EchoRecordingPeer, echoRecordingPeers } from '../../src/core/echo-peer.js';
import type { JournalEntry } from '../../src/core/entry.js';
import type { Peer, ReplayOutcome } from '../../src/core/peer.js';
import { echoRecordsConformance, filterOn, replica, type TestClock } from '../support/echo-conformance.js';

// In memory the two "processes" share one store: that is the embedded relay, where one filter serves both.
echoRecordsConformance('in memory', async () => {
  return (clock: TestClock) => {
    const records = new MemoryReplicaRecords(() => clock.t);
    return () => records;
  };
});

/** Records every call, on top of memory records. */
class CountingRecords implements ReplicaRecords {
  readonly calls: string[] = [];
  failWrites = false;
  private readonly inner: MemoryReplicaRecords;

  constructor(clock: TestClock) {
    this.inner = new MemoryReplicaRecords(() => clock.t);
  }

  async remember(node: string, prints: readonly string[], expiresAt: number): Promise<void> {
    this.calls.push(...prints.map((p) => `remember ${node} ${p}`));
    if (this.failWrites) throw Object.assign(new Error('SlowDown'), { $metadata: { httpStatusCode: 503 } });
    return this.inner.remember(node, prints, expiresAt);
  }

  async remembers(node: string, prints: readonly string[], now: number): Promise<boolean> {
    this.calls.push(...prints.map((p) => `lookup ${node} ${p}`));
    return this.inner.remembers(node, prints, now);
  }

  countEcho(node: string): Promise<void> {
    return this.inner.countEcho(node);
  }

  echoCounts(nodes: readonly string[]): Promise<ReadonlyMap<string, number>> {
    return this.inner.echoCounts(nodes);
  }
}

/** A peer that asks, at the moment its request would leave, whether the node's report of it would be an echo. */
class ProbingPeer implements Peer {
  readonly name = 'server-b';
  readonly echoAtSend: boolean[] = [];

  constructor(
    private readonly isEchoNow: () => Promise<boolean>,
    private readonly outcome: ReplayOutcome = { kind: 'applied' },
  ) {}

  async probe(): Promise<ReplayOutcome> {
    return { kind: 'applied' };
  }

  async apply(_entry: JournalEntry): Promise<ReplayOutcome> {
    this.echoAtSend.push(await this.isEchoNow());
    return this.outcome;
  }

  async close(): Promise<void> {}
}

const noBody = () => Promise.reject(new Error('no body'));

describe('ReplicaEchoFilter costs', () => {
  it('records a folder shared by many replicas once per half window, and looks nothing up for a node with no peer', async () => {
    const clock = { t: 0 };
    const records = new CountingRecords(clock);
    const filter = filterOn(records, clock);
    await filter.recordReplica(replica({ path: '/user_homes/john/docs/a.txt' }));
    await filter.recordReplica(replica({ path: '/user_homes/john/docs/b.txt' }));
    expect(records.calls).toEqual([
      `remember node-b put /user_homes/john/docs/a.txt ${'a'.repeat(64)}`,
      'remember node-b makedir /user_homes/john/docs',
      'remember node-b makedir /user_homes/john',
      `remember node-b put /user_homes/john/docs/b.txt ${'a'.repeat(64)}`,
    ]);
    records.calls.length = 0;
    expect(await filter.isEcho({ action: 'makedir', path: '/user_homes/x' }, 'node-z')).toBe(false);
    expect(records.calls).toEqual([]);
    // A delete looks its own path up, then (not an echo) each folder above it.
    expect(await filter.isEcho({ action: 'delete', path: '/user_homes/john/x' }, 'node-b')).toBe(false);
    expect(records.calls).toEqual([
      'lookup node-b delete /user_homes/john/x',
      'lookup node-b delete /user_homes/john',
      'lookup node-b delete /user_homes',
    ]);
  });
});

describe('EchoRecordingPeer', () => {
  it('records the replica before its request leaves, so its echo is known even while the request is in flight', async () => {
    const clock = { t: 0 };
    const records = new CountingRecords(clock);
    const replay = filterOn(records, clock);
    const api = filterOn(records, clock);
    const inner = new ProbingPeer(() =>
      api.isEcho({ action: 'upload', path: '/user_homes/john/a.txt', sha256: 'a'.repeat(64) }, 'node-b'),
    );
    const peer = new EchoRecordingPeer(inner, replay);
    expect(await peer.apply(replica(), noBody)).toEqual({ kind: 'applied' });
    expect(inner.echoAtSend).toEqual([true]);
  });

  it('sends nothing when the record cannot be written: the error reaches the caller, which retries', async () => {
    const clock = { t: 0 };
    const records = new CountingRecords(clock);
    records.failWrites = true;
    const inner = new ProbingPeer(async () => true);
    const peer = new EchoRecordingPeer(inner, filterOn(records, clock));
    await expect(peer.apply(replica(), noBody)).rejects.toMatchObject({ $metadata: { httpStatusCode: 503 } });
    expect(inner.echoAtSend).toEqual([]);
  });

  it('wraps only the peers that are a node’s own server', () => {
    const clock = { t: 0 };
    const plain = new ProbingPeer(async () => false);
    const peers = echoRecordingPeers(
      new Map<string, Peer>([
        ['server-b', plain],
        ['server-c', plain],
      ]),
      new Map([['server-b', 'node-b']]),
      filterOn(new CountingRecords(clock), clock),
    );
    expect(peers.get('server-b')).toBeInstanceOf(EchoRecordingPeer);
    expect(peers.get('server-c')).toBe(plain);
  });
});
