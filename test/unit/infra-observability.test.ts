import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { EntryRef, JournalEntry } from '../../src/core/entry.js';
import { emptyCounts, type JobView } from '../../src/core/jobs/job.js';
import type { JournalStore } from '../../src/core/journal.js';
import { emptyBacklog, JournalView } from '../../src/core/journal-view.js';
import { laneId } from '../../src/core/lane.js';
import type { Peer, ReplayOutcome } from '../../src/core/peer.js';
import { PeerHealth } from '../../src/core/peer-health.js';
import { Replayer, type ReplayReport } from '../../src/core/replayer.js';
import {
  BacklogMetrics,
  IntakeMetrics,
  JobMetrics,
  PeerMetrics,
  ReplayMetrics,
  UploadMetrics,
} from '../../src/observability/metrics.js';
import { PowertoolsLogger } from '../../src/observability/powertools-logger.js';

type Line = Record<string, unknown>;
interface Emf extends Line {
  _aws: {
    CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[];
  };
}

/** Everything Powertools prints (EMF on stdout, logs on stdout/stderr), one JSON object per line. */
let printed: Line[];
beforeEach(() => {
  printed = [];
  const capture = (chunk: unknown) => {
    for (const line of String(chunk).split('\n')) if (line.trim()) printed.push(JSON.parse(line) as Line);
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  vi.spyOn(process.stderr, 'write').mockImplementation(capture);
});
afterEach(() => vi.restoreAllMocks());

const emf = () => printed.filter((l): l is Emf => '_aws' in l);
const logs = () => printed.filter((l) => !('_aws' in l));
/** The EMF object carrying `metric` for the given dimension value. */
function emfFor(metric: string, dimension: string, value: string): Emf {
  const found = emf().filter((l) => l[dimension] === value && metric in l);
  expect(found, `${metric} for ${dimension}=${value}`).toHaveLength(1);
  return found[0]!;
}
function unitOf(line: Emf, metric: string): string | undefined {
  return line._aws.CloudWatchMetrics[0]!.Metrics.find((m) => m.Name === metric)?.Unit;
}

const NOW = new Date('2026-11-27T10:00:00.000Z');
const CREATED = new Date(NOW.getTime() - 5_000).toISOString();
const LOCATION = '/user_homes';

function entry(peer: string, id: string, path: string, size = 10): JournalEntry {
  return {
    lane: laneId(LOCATION, peer),
    id,
    peer,
    location: LOCATION,
    action: 'upload',
    path,
    size,
    createdAt: CREATED,
    status: 'PENDING',
    attempts: 0,
  };
}

/** The journal as the replayer and the views use it, in memory. */
class MemoryJournal implements JournalStore {
  readonly entries = new Map<string, JournalEntry>();
  constructor(entries: JournalEntry[]) {
    for (const e of entries) this.entries.set(key(e), e);
  }
  async read(ref: EntryRef) {
    return this.entries.get(key(ref));
  }
  async update(e: JournalEntry) {
    this.entries.set(key(e), e);
  }
  async purge(ref: EntryRef) {
    this.entries.delete(key(ref));
  }
  async list(lane: string) {
    return [...this.entries.values()].filter((e) => e.lane === lane).sort((a, b) => a.id.localeCompare(b.id));
  }
  async lanes() {
    return [...new Set([...this.entries.values()].map((e) => e.lane))];
  }
  async readBody() {
    return Readable.from(['body']);
  }
  create = unused;
  writeBody = unused;
  bodyDigest = unused;
  publish = unused;
  discardBody = unused;
  newestId = unused;
  close = unused;
}
const key = (ref: EntryRef) => `${ref.lane}/${ref.id}`;
async function unused(): Promise<never> {
  throw new Error('not used by these tests');
}

/** A peer that answers per path (and its probe as `probe` says). */
function peer(
  name: string,
  answers: Record<string, ReplayOutcome | Error>,
  probe: ReplayOutcome = { kind: 'applied' },
): Peer {
  return {
    name,
    probe: async () => probe,
    apply: async (e) => {
      const answer = answers[e.path] ?? { kind: 'applied' };
      if (answer instanceof Error) throw answer;
      return answer;
    },
    close: async () => {},
  };
}

describe('the replay path', () => {
  it('emits outcome counts, durations and latency per peer, and structured logs per attempt', async () => {
    // Prepare: server2 applies two entries, refuses one (409) and cannot read one; server3 is down; server4
    // refuses the credentials.
    const journal = new MemoryJournal([
      entry('server2', 'e1', '/user_homes/a.txt'),
      entry('server2', 'e2', '/user_homes/b.txt'),
      entry('server2', 'e3', '/user_homes/conflict.txt'),
      entry('server2', 'e4', '/user_homes/broken.txt'),
      entry('server3', 'e5', '/user_homes/a.txt', 1000),
      entry('server4', 'e6', '/user_homes/a.txt', 7),
    ]);
    const peers = new Map<string, Peer>([
      [
        'server2',
        peer('server2', {
          '/user_homes/conflict.txt': { kind: 'conflict', reason: '409 Conflict' },
          '/user_homes/broken.txt': new Error('socket exploded'),
        }),
      ],
      ['server3', peer('server3', { '/user_homes/a.txt': { kind: 'offline', reason: 'ECONNREFUSED' } })],
      [
        'server4',
        peer(
          'server4',
          { '/user_homes/a.txt': { kind: 'unauthorized', reason: '401 Unauthorized', status: 401 } },
          { kind: 'unauthorized', reason: '401 Unauthorized', status: 401 }, // the probe is refused too
        ),
      ],
    ]);
    const logger = new PowertoolsLogger();
    const health = new PeerHealth(peers, logger, () => NOW);
    const metrics = new ReplayMetrics(undefined, () => NOW);
    const reports: ReplayReport[] = [];
    const replayer = new Replayer({
      store: journal,
      peers,
      health,
      logger,
      now: () => NOW,
      onReplay: (report) => {
        reports.push(report);
        metrics.record(report);
      },
    });

    // Act
    await replayer.ring([...journal.entries.values()]);
    await vi.waitFor(() => expect(reports).toHaveLength(6));
    await replayer.stop();
    metrics.publish();

    // Assess: one EMF object per peer, namespace VfsRelay, dimensions service + peer.
    expect(emf()).toHaveLength(3);
    for (const line of emf()) {
      expect(line._aws.CloudWatchMetrics[0]).toMatchObject({
        Namespace: 'VfsRelay',
        Dimensions: [['service', 'peer']],
      });
      expect(line.service).toBe('vfs-relay');
    }
    const server2 = emfFor('ReplayApplied', 'peer', 'server2');
    expect(server2).toMatchObject({
      ReplayApplied: 2,
      ReplayConflict: 1,
      ReplayFailed: 1,
      ReplayOffline: 0,
      ReplayUnauthorized: 0,
      ReplicationLatency: [5000, 5000],
    });
    expect(server2.ReplayDuration).toHaveLength(4);
    for (const ms of server2.ReplayDuration as number[]) expect(ms).toBeGreaterThanOrEqual(0);
    expect(unitOf(server2, 'ReplayApplied')).toBe('Count');
    expect(unitOf(server2, 'ReplayDuration')).toBe('Milliseconds');
    expect(unitOf(server2, 'ReplicationLatency')).toBe('Milliseconds');

    const server3 = emfFor('ReplayOffline', 'peer', 'server3');
    expect(server3).toMatchObject({ ReplayOffline: 1, ReplayApplied: 0 });
    expect(server3.ReplayDuration).toEqual(expect.any(Number));
    expect(unitOf(server3, 'ReplicationLatency')).toBeUndefined(); // nothing applied: no latency
    expect(emfFor('ReplayUnauthorized', 'peer', 'server4')).toMatchObject({ ReplayUnauthorized: 1, ReplayConflict: 0 });

    // Logs: one JSON object per attempt with entry id, lane, peer, action and outcome at top level.
    const replayed = logs().filter((l) => l.message === 'replayed');
    expect(replayed.map((l) => l.entryId).sort()).toEqual(['e1', 'e2']);
    expect(replayed[0]).toMatchObject({
      level: 'info',
      service: 'vfs-relay',
      lane: laneId(LOCATION, 'server2'),
      peer: 'server2',
      action: 'upload',
      outcome: 'applied',
      durationMs: expect.any(Number),
    });
    expect(logs().find((l) => l.entryId === 'e3')).toMatchObject({
      level: 'warn',
      message: 'replay did not apply',
      peer: 'server2',
      path: '/user_homes/conflict.txt',
      outcome: 'conflict',
      status: 'CONFLICT',
      reason: '409 Conflict',
    });
    expect(logs().find((l) => l.entryId === 'e4')).toMatchObject({ outcome: 'bad_entry', status: 'FAILED' });
    expect(logs().find((l) => l.entryId === 'e5')).toMatchObject({
      level: 'info',
      outcome: 'offline',
      status: 'PENDING',
    });
    expect(logs().find((l) => l.message === 'peer is OFFLINE')).toMatchObject({ level: 'warn', peer: 'server3' });
    expect(logs().find((l) => l.message === 'peer is UNAUTHORIZED')).toMatchObject({ peer: 'server4' });
    for (const line of logs()) expect(typeof line.time).toBe('string');

    // The ping's view after this replay: backlog and peer health gauges.
    printed.length = 0;
    new BacklogMetrics().publish(await new JournalView(journal).backlog(), {
      peers: ['server2', 'server3', 'server4', 'server5'],
      now: NOW,
    });
    new PeerMetrics().publish(new Map([...peers.keys()].map((name) => [name, health.current(name)])));

    expect(emfFor('PendingEntries', 'peer', 'server2')).toMatchObject({
      PendingEntries: 0,
      PendingBytes: 0,
      OldestPendingAge: 0,
      ConflictEntries: 1,
      FailedEntries: 1,
      BlockedEntries: 0,
      HeldChanges: 0,
    });
    const backlog3 = emfFor('PendingEntries', 'peer', 'server3');
    expect(backlog3).toMatchObject({ PendingEntries: 1, PendingBytes: 1000, OldestPendingAge: 5, ConflictEntries: 0 });
    expect(unitOf(backlog3, 'PendingBytes')).toBe('Bytes');
    expect(unitOf(backlog3, 'OldestPendingAge')).toBe('Seconds');
    expect(unitOf(backlog3, 'PendingEntries')).toBe('Count');
    expect(emfFor('PendingEntries', 'peer', 'server5')).toMatchObject({ PendingEntries: 0, OldestPendingAge: 0 });
    expect(emfFor('PeerOnline', 'peer', 'server2').PeerOnline).toBe(1);
    expect(emfFor('PeerOnline', 'peer', 'server3').PeerOnline).toBe(0);
    expect(emfFor('PeerOnline', 'peer', 'server4').PeerOnline).toBe(0);
    expect(unitOf(emfFor('PeerOnline', 'peer', 'server2'), 'PeerOnline')).toBe('None');
  });

  it('publishes HeldChanges per peer from the backlog (the delete guard alarm)', () => {
    printed.length = 0;
    new BacklogMetrics().publish(new Map([['server2', { ...emptyBacklog(), held: 3 }]]), { peers: ['server3'] });
    const held = emfFor('HeldChanges', 'peer', 'server2');
    expect(held.HeldChanges).toBe(3);
    expect(unitOf(held, 'HeldChanges')).toBe('Count');
    expect(emfFor('HeldChanges', 'peer', 'server3').HeldChanges).toBe(0);
  });

  it('splits more than 99 values of a metric over several EMF objects, each with the peer dimension', () => {
    const metrics = new ReplayMetrics(undefined, () => NOW);
    for (let i = 0; i < 150; i += 1) {
      metrics.record({
        entry: entry('server2', `e${i}`, `/user_homes/${i}`),
        outcome: { kind: 'applied' },
        durationMs: i,
      });
    }
    metrics.publish();
    metrics.publish(); // nothing recorded since: nothing printed

    expect(emf()).toHaveLength(2);
    const [first, second] = emf() as [Emf, Emf];
    expect(first).toMatchObject({ peer: 'server2', ReplayApplied: 150 });
    expect(first.ReplayDuration).toHaveLength(99);
    expect(first.ReplicationLatency).toHaveLength(99);
    expect(second.peer).toBe('server2');
    expect(second.ReplayDuration).toHaveLength(51);
    expect(second.ReplicationLatency).toHaveLength(51);
    expect(second.ReplayApplied).toBeUndefined();
    expect([...(first.ReplayDuration as number[]), ...(second.ReplayDuration as number[])]).toEqual(
      Array.from({ length: 150 }, (_, i) => i),
    );
  });
});

describe('intake metrics', () => {
  it('counts ignored changes per reason and echoes per node', () => {
    const metrics = new IntakeMetrics();
    metrics.recordIgnored('ECHO', 'node-b');
    metrics.recordIgnored('ECHO', 'node-b');
    metrics.recordIgnored('REPLICATION_USER', 'node-a');
    metrics.publish();

    expect(emfFor('ChangesIgnored', 'reason', 'ECHO').ChangesIgnored).toBe(2);
    expect(emfFor('ChangesIgnored', 'reason', 'REPLICATION_USER').ChangesIgnored).toBe(1);
    const echoes = emfFor('EchoesSuppressed', 'node', 'node-b');
    expect(echoes.EchoesSuppressed).toBe(2);
    expect(echoes._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['service', 'node']]);
    expect(unitOf(echoes, 'EchoesSuppressed')).toBe('Count');
  });

  it('UploadMetrics publishes the expired uploads per node once, then starts over', () => {
    const metrics = new UploadMetrics();
    metrics.recordExpired('node-a');
    metrics.recordExpired('node-a');
    metrics.recordExpired(undefined);
    metrics.publish();
    const a = emfFor('UploadsExpired', 'node', 'node-a');
    expect(a.UploadsExpired).toBe(2);
    expect(a._aws.CloudWatchMetrics[0]!.Dimensions).toEqual([['service', 'node']]);
    expect(unitOf(a, 'UploadsExpired')).toBe('Count');
    expect(emfFor('UploadsExpired', 'node', 'unknown').UploadsExpired).toBe(1);
    const published = printed.length;
    metrics.publish();
    expect(printed.length).toBe(published);
  });
});

describe('PowertoolsLogger', () => {
  it('keeps fields Powertools reserves under another name and writes errors with their name and message', () => {
    const logger = new PowertoolsLogger();
    logger.error('replay bookkeeping failed', {
      entryId: 'e1',
      message: 'from a field',
      level: 'x',
      skipped: undefined,
      error: new TypeError('boom'),
    });

    expect(printed).toHaveLength(1);
    expect(printed[0]).toMatchObject({
      level: 'error',
      message: 'replay bookkeeping failed',
      entryId: 'e1',
      field_message: 'from a field',
      field_level: 'x',
      error: { name: 'TypeError', message: 'boom' },
    });
    expect(printed[0]).not.toHaveProperty('skipped');
  });

  it('writes the shape every vfs-relay process writes (level, time, service, message) and redacts secrets', () => {
    const logger = new PowertoolsLogger();
    const cause = new Error('connect ECONNREFUSED');
    logger.warn('peer unreachable', {
      peer: 'server2',
      time: 'from a field',
      headers: { authorization: 'Basic top-secret-1' },
      config: { password: 'top-secret-2' },
      error: new Error('fetch failed', { cause }),
    });
    const [line] = printed;
    expect(line).toMatchObject({
      level: 'warn',
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      service: expect.any(String),
      message: 'peer unreachable',
      peer: 'server2',
      field_time: 'from a field',
      headers: { authorization: '***' },
      config: { password: '***' },
      error: { name: 'Error', message: 'fetch failed', cause: { message: 'connect ECONNREFUSED' } },
    });
    expect((line as { error: { stack: string } }).error.stack).toMatch(/^Error: fetch failed\n/);
    expect(line).not.toHaveProperty('timestamp');
    expect(JSON.stringify(printed)).not.toContain('top-secret');
  });

  it('honours the level: debug lines are dropped at INFO', () => {
    const logger = new PowertoolsLogger();
    logger.debug('noise', { entryId: 'e1' });
    logger.info('kept', { entryId: 'e1' });
    expect(printed.map((l) => l.message)).toEqual(['kept']);
  });
});

describe('job metrics', () => {
  const job = (peer: string, status: JobView['status'], counts: Partial<JobView['counts']>, copied = 0): JobView => ({
    id: `j-${peer}-${status}`,
    kind: 'resync',
    peer,
    from: 'primary',
    path: '/',
    status,
    options: { checksum: false, delete: false, dryRun: false },
    counts: { ...emptyCounts(), ...counts },
    bytes: { total: 0, copied },
    startedAt: '',
    finishedAt: null,
    error: null,
  });

  it('publishes progress of running jobs and jobs ended FAILED per peer, zeros for idle peers', () => {
    new JobMetrics().publish(
      {
        jobs: [
          job('server2', 'RUNNING', { scanned: 100, missing: 7, extra: 1, copied: 5, deleted: 1 }, 4096),
          job('server3', 'FAILED', { scanned: 3 }),
        ],
        ended: [job('server3', 'FAILED', { scanned: 3 })],
      },
      ['server2', 'server3', 'server4'],
    );
    expect(emfFor('JobsRunning', 'peer', 'server2')).toMatchObject({
      JobsRunning: 1,
      JobItemsScanned: 100,
      JobDifferences: 8,
      JobWritesDone: 6,
      JobBytesCopied: 4096,
      JobsFailed: 0,
    });
    expect(emfFor('JobsFailed', 'peer', 'server3')).toMatchObject({ JobsRunning: 0, JobsFailed: 1 });
    expect(emfFor('JobsRunning', 'peer', 'server4')).toMatchObject({ JobsRunning: 0, JobsFailed: 0 });
  });
});
