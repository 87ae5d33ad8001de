import { describe, expect, it } from 'vitest';
import type { JournalEntry } from '../../src/core/entry.js';
import { JobAwarePeer, type JobGate, type JobWriteResult, type JobWriter } from '../../src/core/jobs/job-peer.js';
import type { Peer, ReplayOutcome } from '../../src/core/peer.js';

const entry = (job?: string): JournalEntry => ({
  id: '20261127T055429693Z-000000-9f2c1a',
  lane: '0123456789abcdef',
  peer: 'server2',
  location: '/user_homes',
  action: 'upload',
  path: '/user_homes/a.txt',
  createdAt: '2026-11-27T05:54:29.693Z',
  status: 'PENDING',
  attempts: 0,
  ...(job ? { job, from: 'primary', size: 3 } : { size: 3 }),
});

function setup(refusal: Awaited<ReturnType<JobGate['refuse']>>, result: JobWriteResult) {
  const calls: string[] = [];
  const recorded: JobWriteResult[] = [];
  const inner: Peer = {
    name: 'server2',
    probe: async () => ({ kind: 'applied' }),
    apply: async () => {
      calls.push('inner');
      return { kind: 'applied' };
    },
    close: async () => {},
  };
  const writer: JobWriter = {
    write: async () => {
      calls.push('writer');
      return result;
    },
  };
  const gate: JobGate = {
    refuse: async () => refusal,
    record: async (_e, r) => {
      recorded.push(r);
    },
  };
  return { peer: new JobAwarePeer(inner, writer, gate), calls, recorded };
}

const noBody = async () => Buffer.alloc(0);

describe('JobAwarePeer', () => {
  it('sends live entries to the peer adapter untouched', async () => {
    const { peer, calls, recorded } = setup(undefined, { kind: 'written', bytes: 3 });
    expect(await peer.apply(entry(), noBody)).toEqual({ kind: 'applied' });
    expect(calls).toEqual(['inner']);
    expect(recorded).toEqual([]);
  });

  it('writes a job entry the gate lets through and records the result', async () => {
    const { peer, calls, recorded } = setup(undefined, { kind: 'written', bytes: 3 });
    expect((await peer.apply(entry('j'), noBody)).kind).toBe('applied');
    expect(calls).toEqual(['writer']);
    expect(recorded).toEqual([{ kind: 'written', bytes: 3 }]);
  });

  it('skips a touched path without writing, and drops an entry of a job that no longer runs', async () => {
    const touched = setup({ drop: false, reason: 'a live change touched this path' }, { kind: 'written', bytes: 3 });
    const outcome: ReplayOutcome = await touched.peer.apply(entry('j'), noBody);
    expect(outcome).toEqual({ kind: 'applied', detail: 'job j: skipped: a live change touched this path' });
    expect(touched.calls).toEqual([]);
    expect(touched.recorded).toEqual([{ kind: 'skipped', reason: 'a live change touched this path' }]);

    const dropped = setup({ drop: true, reason: 'its job is not running' }, { kind: 'written', bytes: 3 });
    expect((await dropped.peer.apply(entry('j'), noBody)).kind).toBe('applied');
    expect(dropped.calls).toEqual([]);
    expect(dropped.recorded).toEqual([]);
  });

  it('leaves the entry in the journal when the peer is down, and takes failures out of it', async () => {
    const down = setup(undefined, { kind: 'retry', outcome: { kind: 'offline', reason: 'ECONNREFUSED' } });
    expect(await down.peer.apply(entry('j'), noBody)).toEqual({ kind: 'offline', reason: 'ECONNREFUSED' });
    expect(down.recorded).toEqual([]);
    const failed = setup(undefined, { kind: 'failed', reason: 'PUT /user_homes/a.txt: HTTP 507' });
    expect((await failed.peer.apply(entry('j'), noBody)).kind).toBe('applied');
    expect(failed.recorded).toEqual([{ kind: 'failed', reason: 'PUT /user_homes/a.txt: HTTP 507' }]);
  });
});
