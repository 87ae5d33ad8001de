import { afterAll, beforeAll, expect, it } from 'vitest';
import { type ApachePeer, apacheAvailable, peerConfig, startApache } from '../support/apache.js';
import { postChange, waitFor } from '../support/node-client.js';
import { type Exposition, parseExposition } from '../support/prometheus.js';
import { ADMIN_TOKEN, auth, NODE_A_TOKEN, startTestRelay, type TestRelay } from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';

// GET /metrics on a relay replaying to a real Apache: the scrape parses, and its values follow real replays,
// a refused change, the peer going down with a backlog, and the peer coming back.

describeWithServer('Apache httpd (apt-get install apache2)', apacheAvailable, 'GET /metrics', () => {
  let apache: ApachePeer;
  let t: TestRelay;
  const peer = { peer: 'apache' };

  beforeAll(async () => {
    apache = await startApache();
    t = await startTestRelay({ peers: [peerConfig(apache, 'apache')] });
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    await apache?.close();
  });

  async function scrape(): Promise<Exposition> {
    const res = await fetch(`${t.url}/metrics`, { headers: auth(ADMIN_TOKEN) });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parseExposition(await res.text());
  }

  async function peerState(): Promise<{ status: string; pending: number; conflicts: number }> {
    const res = await fetch(`${t.url}/v1/peers`, { headers: auth(ADMIN_TOKEN) });
    return ((await res.json()) as { status: string; pending: number; conflicts: number }[])[0]!;
  }

  async function drained(): Promise<void> {
    await waitFor(
      async () => (await peerState()).pending === 0 && t.relay.replayer.inFlight === 0,
      30_000,
      async () => JSON.stringify(await peerState()),
    );
  }

  it('needs the admin token', async () => {
    expect((await fetch(`${t.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${t.url}/metrics`, { headers: auth(NODE_A_TOKEN) })).status).toBe(403);
  });

  it('moves with real replays: applied, refused, peer down with a backlog, peer back', async () => {
    const before = await scrape();
    expect(before.value('vfs_relay_changes_total', { ...peer, outcome: 'applied' })).toBe(0);
    expect(before.value('vfs_relay_peer_online', peer)).toBe(1);

    // Applied: three uploads of 10, 20 and 30 bytes.
    for (const size of [10, 20, 30]) {
      await postChange(t.url, NODE_A_TOKEN, {
        action: 'upload',
        path: `/user_homes/m/${size}.bin`,
        body: Buffer.alloc(size, 1),
      });
    }
    await drained();
    let m = await scrape();
    expect(m.value('vfs_relay_changes_total', { ...peer, outcome: 'applied' })).toBe(3);
    expect(m.value('vfs_relay_applied_bytes_total', peer)).toBe(60);
    expect(m.value('vfs_relay_pending', peer)).toBe(0);

    // Refused: a rename whose source the peer never had.
    await postChange(t.url, NODE_A_TOKEN, {
      action: 'rename',
      path: '/user_homes/m/ghost.bin',
      target: '/user_homes/m/found.bin',
    });
    await waitFor(async () => (await peerState()).conflicts === 1, 20_000);
    m = await scrape();
    expect(m.value('vfs_relay_conflicts', peer)).toBe(1);
    expect(m.value('vfs_relay_changes_total', { ...peer, outcome: 'conflict' })).toBe(1);
    expect(m.value('vfs_relay_held', peer)).toBe(0);

    // Down: the next upload finds the peer gone and waits in the journal.
    await apache.stop();
    await postChange(t.url, NODE_A_TOKEN, { action: 'upload', path: '/user_homes/m/late.bin', body: Buffer.alloc(5) });
    await waitFor(
      async () => (await peerState()).status === 'OFFLINE',
      20_000,
      async () => JSON.stringify(await peerState()),
    );
    m = await scrape();
    expect(m.value('vfs_relay_peer_online', peer)).toBe(0);
    expect(m.value('vfs_relay_pending', peer)).toBe(1);
    expect(m.value('vfs_relay_pending_bytes', peer)).toBe(5);
    expect(m.value('vfs_relay_oldest_pending_seconds', peer)).toBeGreaterThanOrEqual(0);
    expect(m.value('vfs_relay_changes_total', { ...peer, outcome: 'offline' })).toBeGreaterThanOrEqual(1);
    const probedAtStart = m.value('vfs_relay_peer_last_ping_timestamp_seconds', peer); // the start-up probe
    expect(probedAtStart).toBeGreaterThan(0);

    // Back: the ping finds it, the backlog drains.
    await apache.start();
    await waitFor(
      async () => (await peerState()).status === 'ONLINE',
      20_000,
      async () => JSON.stringify(await peerState()),
    );
    await drained();
    m = await scrape();
    expect(m.value('vfs_relay_peer_online', peer)).toBe(1);
    expect(m.value('vfs_relay_pending', peer)).toBe(0);
    expect(m.value('vfs_relay_changes_total', { ...peer, outcome: 'applied' })).toBe(4);
    expect(m.value('vfs_relay_applied_bytes_total', peer)).toBe(65);
    expect(m.value('vfs_relay_peer_last_ping_timestamp_seconds', peer)).toBeGreaterThan(probedAtStart!);
  }, 90_000);
});
