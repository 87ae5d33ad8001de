import { describe, expect, it } from 'vitest';
import type { PeerReading } from '../../src/api/operator-reads.js';
import type { JournalEntry } from '../../src/core/entry.js';
import type { ReplayOutcome } from '../../src/core/peer.js';
import { PrometheusExporter } from '../../src/observability/prometheus.js';
import { parseExposition } from '../support/prometheus.js';

const NOW = Date.parse('2026-12-01T10:00:00Z');

function peer(name: string, fields: Partial<PeerReading> = {}): PeerReading {
  return {
    name,
    url: `https://${name}.example.com/`,
    status: 'ONLINE',
    lastPingAt: null,
    pending: 0,
    pendingBytes: 0,
    oldestPendingAt: null,
    conflicts: 0,
    failed: 0,
    blocked: 0,
    awaitingBody: 0,
    held: 0,
    ...fields,
  };
}

function report(peerName: string, outcome: ReplayOutcome, size?: number) {
  const entry = { peer: peerName, id: 'x', lane: 'l', size } as JournalEntry;
  return { entry, outcome, durationMs: 20 };
}

describe('PrometheusExporter', () => {
  it('writes valid exposition text with every contract series, zeros before the first replay', async () => {
    const exporter = new PrometheusExporter(['a', 'b'], { now: () => NOW });
    const text = await exporter.render([peer('a'), peer('b', { status: 'OFFLINE' })]);
    const m = parseExposition(text);

    for (const name of [
      'vfs_relay_pending',
      'vfs_relay_pending_bytes',
      'vfs_relay_oldest_pending_seconds',
      'vfs_relay_conflicts',
      'vfs_relay_held',
    ]) {
      expect(m.value(name, { peer: 'a' }), name).toBe(0);
      expect(m.families.find((f) => f.name === name)?.type).toBe('GAUGE');
    }
    expect(m.value('vfs_relay_peer_online', { peer: 'a' })).toBe(1);
    expect(m.value('vfs_relay_peer_online', { peer: 'b' })).toBe(0);
    for (const outcome of ['applied', 'conflict', 'failed', 'offline', 'unauthorized']) {
      expect(m.value('vfs_relay_changes_total', { peer: 'b', outcome })).toBe(0);
    }
    expect(m.families.find((f) => f.name === 'vfs_relay_changes_total')?.type).toBe('COUNTER');
    // prom-client counts CPU from when the collector was made: the series is there, its value may still be 0.
    expect(m.value('process_cpu_user_seconds_total')).toBeGreaterThanOrEqual(0);
    expect(exporter.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it('sets the backlog gauges from the peers figures at each render', async () => {
    const exporter = new PrometheusExporter(['a'], { now: () => NOW, processMetrics: false });
    const busy = peer('a', {
      pending: 3,
      pendingBytes: 4096,
      oldestPendingAt: new Date(NOW - 90_500).toISOString(),
      conflicts: 2,
      failed: 1,
      blocked: 1,
      held: 5,
      status: 'UNAUTHORIZED',
      lastPingAt: new Date(NOW - 1000).toISOString(),
    });
    const m = parseExposition(await exporter.render([busy]));
    expect(m.value('vfs_relay_pending', { peer: 'a' })).toBe(3);
    expect(m.value('vfs_relay_pending_bytes', { peer: 'a' })).toBe(4096);
    expect(m.value('vfs_relay_oldest_pending_seconds', { peer: 'a' })).toBe(90.5);
    expect(m.value('vfs_relay_conflicts', { peer: 'a' })).toBe(2);
    expect(m.value('vfs_relay_failed', { peer: 'a' })).toBe(1);
    expect(m.value('vfs_relay_blocked', { peer: 'a' })).toBe(1);
    expect(m.value('vfs_relay_held', { peer: 'a' })).toBe(5);
    expect(m.value('vfs_relay_peer_online', { peer: 'a' })).toBe(0);
    expect(m.value('vfs_relay_peer_last_ping_timestamp_seconds', { peer: 'a' })).toBe((NOW - 1000) / 1000);

    // The next scrape reports the backlog as it is then, not a sum of scrapes.
    const next = parseExposition(await exporter.render([peer('a')]));
    expect(next.value('vfs_relay_pending', { peer: 'a' })).toBe(0);
    expect(next.value('vfs_relay_oldest_pending_seconds', { peer: 'a' })).toBe(0);
    expect(next.value('vfs_relay_peer_last_ping_timestamp_seconds', { peer: 'a' })).toBeUndefined();
  });

  it('counts replay attempts by outcome and the bytes applied', async () => {
    const exporter = new PrometheusExporter(['a'], { now: () => NOW, processMetrics: false });
    exporter.record(report('a', { kind: 'applied' }, 1000));
    exporter.record(report('a', { kind: 'applied' }));
    exporter.record(report('a', { kind: 'conflict', reason: 'HTTP 409' }, 5));
    exporter.record(report('a', { kind: 'bad_entry', reason: 'body unreadable' }, 5));
    const m = parseExposition(await exporter.render([peer('a')]));
    expect(m.value('vfs_relay_changes_total', { peer: 'a', outcome: 'applied' })).toBe(2);
    expect(m.value('vfs_relay_changes_total', { peer: 'a', outcome: 'conflict' })).toBe(1);
    expect(m.value('vfs_relay_changes_total', { peer: 'a', outcome: 'failed' })).toBe(1);
    expect(m.value('vfs_relay_changes_total', { peer: 'a', outcome: 'offline' })).toBe(0);
    expect(m.value('vfs_relay_applied_bytes_total', { peer: 'a' })).toBe(1000);
    const duration = m.families.find((f) => f.name === 'vfs_relay_replay_duration_seconds');
    expect(duration?.metrics[0]?.buckets?.['+Inf']).toBe('4');
  });
});
