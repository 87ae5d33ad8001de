import { describe, expect, it } from 'vitest';
import type { JournalEntry } from '../../src/core/entry.js';
import type { PeerStatus, ReplayOutcome } from '../../src/core/peer.js';
import { type AttemptContext, settleAttempt } from '../../src/core/replay-outcome.js';
import { entry } from '../support/journal-conformance.js';

// The replay policy on its own: what one attempt's outcome does to the entry and to the peer's health. The
// embedded replayer and the cloud worker both call settleAttempt (their own suites run it end to end).

const AT = new Date('2026-12-01T10:00:00.000Z');

function context(probe: PeerStatus, appliedSince = true): AttemptContext & { probes: number } {
  const ctx = {
    probes: 0,
    probe: async () => {
      ctx.probes += 1;
      return probe;
    },
    appliedSince: () => appliedSince,
    at: AT,
  };
  return ctx;
}

const http = (status: number): ReplayOutcome => ({
  kind: status === 401 || status === 403 ? 'unauthorized' : 'offline',
  reason: `PUT /x: HTTP ${status}`,
  status,
});

describe('settleAttempt', () => {
  it('a 401/403 the probe disproves parks only this change, as CONFLICT, at once', async () => {
    for (const status of [401, 403]) {
      const ctx = context('ONLINE');
      const settled = await settleAttempt(entry(), http(status), ctx);
      expect(ctx.probes).toBe(1);
      expect(settled.outcome).toMatchObject({ kind: 'conflict', status });
      expect(settled.health).toBeUndefined(); // the probe recorded the peer's health (ONLINE)
      expect(settled.entry).toMatchObject({ status: 'CONFLICT', attempts: 1, lastStatus: status });
      expect(settled.entry!.lastError).toMatch(/refuses this path/);
    }
  });

  it('a 401/403 the probe confirms leaves the change PENDING (the peer is UNAUTHORIZED)', async () => {
    const settled = await settleAttempt(entry(), http(401), context('UNAUTHORIZED'));
    expect(settled.outcome).toMatchObject({ kind: 'unauthorized' });
    expect(settled.entry).toMatchObject({ status: 'PENDING', attempts: 1, lastStatus: 401 });
    expect(settled.retryLater).toBe(false);
  });

  it('reads the status as a field: a reason cut at 500 characters changes nothing', async () => {
    const long = `/user_homes/${'x'.repeat(600)}`;
    const outcome: ReplayOutcome = { kind: 'unauthorized', reason: `MKCOL ${long}: HTTP 403`, status: 403 };
    const settled = await settleAttempt(entry({ path: long }), outcome, context('ONLINE'));
    expect(settled.entry).toMatchObject({ status: 'CONFLICT', lastStatus: 403 });
    expect(settled.entry!.lastError!.length).toBe(500);
  });

  it('a failure that may be the change own is probed; while the peer answers, the change is retried later', async () => {
    for (const outcome of [
      http(500),
      http(502),
      http(504),
      http(408),
      http(423), // Locked: a user holds the path for now
      http(307), // a redirect of this path only (the probe of the base URL passes)
      { kind: 'offline', reason: 'UND_ERR_SOCKET', code: 'UND_ERR_SOCKET' } as ReplayOutcome,
      { kind: 'offline', reason: 'UND_ERR_HEADERS_TIMEOUT', code: 'UND_ERR_HEADERS_TIMEOUT' } as ReplayOutcome,
    ]) {
      const ctx = context('ONLINE');
      const settled = await settleAttempt(entry(), outcome, ctx);
      expect(ctx.probes).toBe(1);
      expect(settled).toMatchObject({ outcome: { kind: 'offline' }, retryLater: true });
      expect(settled.health).toBeUndefined(); // the probe recorded the peer's health: ONLINE
      expect(settled.entry).toMatchObject({ status: 'PENDING', repeats: 1 });
    }
  });

  it('a peer that is down, throttling or full is not probed, and nothing is counted against the change', async () => {
    for (const outcome of [
      http(503),
      http(507),
      http(429),
      { kind: 'offline', reason: 'ECONNREFUSED', code: 'ECONNREFUSED' } as ReplayOutcome,
      { kind: 'offline', reason: 'connect ECONNREFUSED' } as ReplayOutcome, // no answer at all
    ]) {
      const ctx = context('ONLINE');
      const settled = await settleAttempt(entry({ repeats: 3, lastStatus: 500 }), outcome, ctx);
      expect(ctx.probes).toBe(0);
      expect(settled.health).toBe(outcome); // the peer goes OFFLINE
      expect(settled.entry).toMatchObject({ status: 'PENDING', attempts: 1 });
      expect(settled.entry!.repeats).toBeUndefined();
    }
  });

  it('parks a change that fails the same way 5 times while the peer answers probes and applies others', async () => {
    let current: JournalEntry = entry();
    for (let attempt = 1; attempt <= 4; attempt++) {
      const settled = await settleAttempt(current, http(500), context('ONLINE'));
      expect(settled.entry).toMatchObject({ status: 'PENDING', repeats: attempt, lastStatus: 500 });
      current = settled.entry!;
    }
    const fifth = await settleAttempt(current, http(500), context('ONLINE'));
    expect(fifth.outcome).toMatchObject({ kind: 'conflict', status: 500 });
    expect(fifth.entry).toMatchObject({ status: 'CONFLICT', attempts: 5, repeats: 5, lastStatus: 500 });
    expect(fifth.entry!.lastError).toMatch(/5 attempts in a row/);
    expect(fifth.retryLater).toBe(false);
  });

  it('counts only failures of the same kind, and only when other changes were applied in between', async () => {
    const four = entry({ repeats: 4, lastStatus: 500, attempts: 4 });
    // Nothing else applied since the last failure: no evidence the peer works, the count stays.
    expect((await settleAttempt(four, http(500), context('ONLINE', false))).entry).toMatchObject({
      status: 'PENDING',
      repeats: 4,
    });
    // A different failure starts the count again.
    expect((await settleAttempt(four, http(502), context('ONLINE'))).entry).toMatchObject({
      status: 'PENDING',
      repeats: 1,
      lastStatus: 502,
    });
    const timeout: ReplayOutcome = { kind: 'offline', reason: 'timeout', code: 'UND_ERR_HEADERS_TIMEOUT' };
    const after = (await settleAttempt(four, timeout, context('ONLINE'))).entry!;
    expect(after).toMatchObject({ repeats: 1, lastCode: 'UND_ERR_HEADERS_TIMEOUT' });
    expect(after.lastStatus).toBeUndefined();
    // The probe fails: the peer is down, which never parks anything and clears the count.
    const down = (await settleAttempt(four, http(500), context('OFFLINE'))).entry!;
    expect(down).toMatchObject({ status: 'PENDING', attempts: 5 });
    expect(down.repeats).toBeUndefined();
  });

  it('a peer that is down never parks anything, however many attempts', async () => {
    let current: JournalEntry = entry();
    for (let attempt = 1; attempt <= 50; attempt++) {
      current = (await settleAttempt(current, http(500), context('OFFLINE'))).entry!;
    }
    expect(current).toMatchObject({ status: 'PENDING', attempts: 50 });
  });
});
