import { existsSync } from 'node:fs';
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import type { JournalEntry } from '../../src/core/entry.js';
import { type ApachePeer, apacheAvailable, peerConfig, startApache } from '../support/apache.js';
import { jobEnd, sourceConfig, startJob, writeTree } from '../support/convergence.js';
import {
  ADMIN_TOKEN,
  auth,
  jsonHeaders,
  NODE_A_TOKEN,
  NODE_B_TOKEN,
  startTestRelay,
  type TestRelay,
} from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The relay's clock, moved by the test only: the guard's window never slides on its own. */
function manualClock() {
  let now = Date.parse('2026-03-01T10:00:00Z');
  return { now: () => new Date(now), advance: (ms: number) => (now += ms) };
}

interface Cluster {
  peer: ApachePeer;
  relay: TestRelay;
  clock: ReturnType<typeof manualClock>;
}

async function cluster(files: Record<string, string>, maxDeletes: number, journal?: string): Promise<Cluster> {
  const peer = await startApache();
  cleanups.push(() => peer.close());
  await writeTree(peer, files);
  return { peer, ...(await relayFor(peer, maxDeletes, journal)) };
}

async function relayFor(peer: ApachePeer, maxDeletes: number, journal?: string, source?: ApachePeer) {
  const clock = manualClock();
  const relay = await startTestRelay(
    {
      peers: [peerConfig(peer, 'server2')],
      deleteGuard: { maxDeletes, windowSeconds: 60 },
      ...(source ? { sources: [sourceConfig(source, 'primary')] } : {}),
    },
    { now: clock.now, journal },
  );
  cleanups.push(() => relay.close());
  return { relay, clock };
}

async function post(relay: TestRelay, token: string, change: Record<string, unknown>) {
  const res = await fetch(`${relay.url}/v1/changes`, {
    method: 'POST',
    headers: jsonHeaders(token),
    body: JSON.stringify(change),
  });
  return { status: res.status, body: (await res.json()) as { id: string; status: string } };
}

async function call<T>(relay: TestRelay, method: string, path: string): Promise<{ status: number; body: T }> {
  const res = await fetch(`${relay.url}${path}`, { method, headers: auth(ADMIN_TOKEN) });
  return { status: res.status, body: (await res.json()) as T };
}

interface ChangeAnswer {
  id: string;
  path: string;
  status: string;
  node?: string;
  peers: { peer: string; status: string; blockedBy?: string; lastError?: string }[];
}

async function heldChanges(relay: TestRelay, node?: string): Promise<ChangeAnswer[]> {
  const { body } = await call<{ items: ChangeAnswer[] }>(relay, 'GET', '/v1/changes?status=HELD&limit=1000');
  return body.items.filter((c) => node === undefined || c.node === node);
}

const onPeer = (peer: ApachePeer, rel: string) => existsSync(join(peer.root, rel));
const file = (i: number) => `user_homes/f${String(i).padStart(2, '0')}.txt`;

/**
 * A source holding keep.txt, a peer holding it and extras a resync with `delete: true` removes (a0..a6, and the
 * folder 0big of 60 files), and a relay between them with maxDeletes 5.
 */
async function resyncWithExtras() {
  const source = await startApache();
  cleanups.push(() => source.close());
  await writeTree(source, { 'user_homes/keep.txt': 'kept' });
  const peer = await startApache();
  cleanups.push(() => peer.close());
  const extras: Record<string, string> = { 'user_homes/keep.txt': 'kept' };
  for (let i = 0; i < 7; i++) extras[`user_homes/a${i}.txt`] = 'extra';
  for (let i = 0; i < 60; i++) extras[`user_homes/0big/f${i}.txt`] = 'extra';
  await writeTree(peer, extras);
  const { relay } = await relayFor(peer, 5, undefined, source);
  return { peer, relay };
}

/**
 * A relay that does not replay (its changes stay in the journal, as while the peer is down), with a delete guard of
 * `maxDeletes`, and node-a's deletes sent to it.
 */
async function withoutReplay(maxDeletes: number) {
  const relay = await startTestRelay(
    {
      peers: [{ name: 'server2', url: 'http://127.0.0.1:9/', pingIntervalSeconds: 3600 }],
      deleteGuard: { maxDeletes, windowSeconds: 60 },
    },
    { replay: false },
  );
  cleanups.push(() => relay.close());
  const del = async (path: string) => (await post(relay, NODE_A_TOKEN, { action: 'delete', path })).body;
  return { relay, del };
}

describeWithServer('Apache httpd (apt-get install apache2)', apacheAvailable, 'delete guard', () => {
  it('80 deletes with maxDeletes 50: the excess is HELD and stays on the peer until released', async () => {
    const files = Object.fromEntries(Array.from({ length: 80 }, (_, i) => [file(i), `file ${i}`]));
    const { peer, relay } = await cluster(files, 50);

    const answers = [];
    for (let i = 0; i < 80; i++)
      answers.push(await post(relay, NODE_A_TOKEN, { action: 'delete', path: `/${file(i)}` }));
    expect(answers.slice(0, 50).every((a) => a.status === 202 && a.body.status === 'PENDING')).toBe(true);
    expect(answers.slice(50).every((a) => a.status === 202 && a.body.status === 'HELD')).toBe(true);
    const heldIds = answers.slice(50).map((a) => a.body.id);

    // The 50 that passed reach the peer; the 30 held never do.
    await vi.waitFor(() => expect(Array.from({ length: 50 }, (_, i) => onPeer(peer, file(i)))).not.toContain(true), {
      timeout: 30_000,
      interval: 50,
    });
    const held = await heldChanges(relay);
    expect(held.map((c) => c.id)).toEqual(heldIds);
    expect(held[0]!.peers[0]!.lastError).toMatch(/node node-a sent more than 50 deletes within 60 s/);
    const { body: peers } = await call<{ name: string; held: number; pending: number }[]>(relay, 'GET', '/v1/peers');
    expect(peers).toEqual([expect.objectContaining({ name: 'server2', held: 30, pending: 0 })]);
    const scrape = await fetch(`${relay.url}/metrics`, { headers: auth(ADMIN_TOKEN) });
    expect(await scrape.text()).toMatch(/^vfs_relay_held\{peer="server2"\} 30$/m);
    const deletes = (await peer.requests()).filter((r) => r.method === 'DELETE').map((r) => r.path);
    expect(deletes.sort()).toEqual(Array.from({ length: 50 }, (_, i) => `/${file(i)}`));
    for (let i = 50; i < 80; i++) expect(onPeer(peer, file(i))).toBe(true);

    // What overlaps a held delete waits behind it (BLOCKED, naming it); unrelated changes flow.
    const behind = await post(relay, NODE_B_TOKEN, { action: 'makedir', path: `/${file(60)}` });
    const { body: blocked } = await call<ChangeAnswer>(relay, 'GET', `/v1/changes/${behind.body.id}`);
    expect(blocked.peers[0]).toMatchObject({ status: 'BLOCKED', blockedBy: heldIds[10] });
    await post(relay, NODE_B_TOKEN, { action: 'makedir', path: '/user_homes/unrelated' });
    await vi.waitFor(() => expect(onPeer(peer, 'user_homes/unrelated')).toBe(true), { timeout: 30_000 });

    // The node stays tripped: one more delete is held too, whatever the window says.
    const more = await post(relay, NODE_A_TOKEN, { action: 'delete', path: '/user_homes/unrelated' });
    expect(more.body.status).toBe('HELD');

    // Release one by id, then the rest of the node's: all deleted on the peer, the blocked makedir after them.
    const one = await call<ChangeAnswer>(relay, 'POST', `/v1/changes/${heldIds[0]}/retry`);
    expect(one.status).toBe(200);
    await vi.waitFor(() => expect(onPeer(peer, file(50))).toBe(false), { timeout: 30_000 });
    const released = await call<{ released: number }>(relay, 'POST', '/v1/holds/release?node=node-a');
    expect(released).toEqual({ status: 200, body: { released: 30 } });
    await vi.waitFor(
      async () => {
        for (let i = 51; i < 80; i++) if (i !== 60) expect(onPeer(peer, file(i))).toBe(false);
        expect(onPeer(peer, 'user_homes/unrelated')).toBe(false);
        expect((await peer.tree()).get(file(60))).toBe('dir'); // the makedir, applied after the delete it waited for
      },
      { timeout: 30_000, interval: 50 },
    );
    expect(await heldChanges(relay)).toEqual([]);

    // Nothing held any more: the node's window starts over, its next delete passes.
    const after = await post(relay, NODE_A_TOKEN, { action: 'delete', path: `/${file(60)}` });
    expect(after.body.status).toBe('PENDING');
  }, 120_000);

  it('the window slides with the clock: 50 deletes, 61 s later 50 more, none held', async () => {
    const files = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`user_homes/s${i}.txt`, 'x']));
    const { relay, clock } = await cluster(files, 50);
    for (let i = 0; i < 50; i++) {
      expect((await post(relay, NODE_A_TOKEN, { action: 'delete', path: `/user_homes/s${i}.txt` })).body.status).toBe(
        'PENDING',
      );
    }
    clock.advance(61_000);
    for (let i = 50; i < 100; i++) {
      expect((await post(relay, NODE_A_TOKEN, { action: 'delete', path: `/user_homes/s${i}.txt` })).body.status).toBe(
        'PENDING',
      );
    }
    expect((await post(relay, NODE_A_TOKEN, { action: 'delete', path: '/user_homes/s0.txt' })).body.status).toBe(
      'HELD',
    );
  }, 120_000);

  it('discard leaves the peer untouched; a restart keeps the node tripped until the last hold is gone', async () => {
    const files = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [file(i), `file ${i}`]));
    const { peer, relay } = await cluster(files, 2);
    const ids = [];
    for (let i = 0; i < 6; i++)
      ids.push((await post(relay, NODE_A_TOKEN, { action: 'delete', path: `/${file(i)}` })).body);
    expect(ids.map((a) => a.status)).toEqual(['PENDING', 'PENDING', 'HELD', 'HELD', 'HELD', 'HELD']);
    await vi.waitFor(() => expect([onPeer(peer, file(0)), onPeer(peer, file(1))]).toEqual([false, false]), {
      timeout: 30_000,
    });

    // Restart on the same journal: the holds are in the journal, and trip the node again.
    const journal = relay.journal;
    await relay.relay.close();
    const again = await relayFor(peer, 2, journal);
    expect((await post(again.relay, NODE_A_TOKEN, { action: 'delete', path: '/user_homes/other' })).body.status).toBe(
      'HELD',
    );
    expect(await heldChanges(again.relay, 'node-a')).toHaveLength(5);

    // Discard one by id, then the rest; the node of another name has none to discard.
    expect((await call(again.relay, 'DELETE', `/v1/changes/${ids[2]!.id}`)).status).toBe(200);
    expect(await call(again.relay, 'POST', '/v1/holds/discard?node=node-b')).toEqual({
      status: 200,
      body: { discarded: 0 },
    });
    expect(await call(again.relay, 'POST', '/v1/holds/discard?node=node-a')).toEqual({
      status: 200,
      body: { discarded: 4 },
    });
    expect(await heldChanges(again.relay)).toEqual([]);
    for (let i = 2; i < 6; i++) expect(onPeer(peer, file(i))).toBe(true);
    const deletes = (await peer.requests()).filter((r) => r.method === 'DELETE').map((r) => r.path);
    expect(deletes.sort()).toEqual([`/${file(0)}`, `/${file(1)}`]);
    // Re-armed: the next delete passes.
    expect((await post(again.relay, NODE_A_TOKEN, { action: 'delete', path: `/${file(5)}` })).body.status).toBe(
      'PENDING',
    );
    await vi.waitFor(() => expect(onPeer(peer, file(5))).toBe(false), { timeout: 30_000 });
  }, 120_000);

  it('a restart keeps the windows: deletes sent before it still count', async () => {
    const files = Object.fromEntries(Array.from({ length: 4 }, (_, i) => [file(i), `file ${i}`]));
    const { peer, relay } = await cluster(files, 3);
    for (let i = 0; i < 2; i++) {
      expect((await post(relay, NODE_A_TOKEN, { action: 'delete', path: `/${file(i)}` })).body.status).toBe('PENDING');
    }
    const journal = relay.journal;
    await relay.relay.close();
    const again = await relayFor(peer, 3, journal);
    const statuses = [];
    for (let i = 2; i < 4; i++) {
      statuses.push((await post(again.relay, NODE_A_TOKEN, { action: 'delete', path: `/${file(i)}` })).body.status);
    }
    expect(statuses).toEqual(['PENDING', 'HELD']);
    // Another node's window is its own.
    expect((await post(again.relay, NODE_B_TOKEN, { action: 'delete', path: '/user_homes/b.txt' })).body.status).toBe(
      'PENDING',
    );
  }, 120_000);

  it('a folder holding more than maxDeletes entries on the peer is HELD at replay, counted folder by folder', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 120; i++) files[`user_homes/flat/f${i}.txt`] = 'x';
    for (let d = 0; d < 12; d++) for (let i = 0; i < 10; i++) files[`user_homes/deep/d${d}/f${i}.txt`] = 'y';
    for (let i = 0; i < 30; i++) files[`user_homes/small/f${i}.txt`] = 'z';
    const { peer, relay } = await cluster(files, 50);
    const ids: Record<string, string> = {};
    for (const name of ['flat', 'deep', 'small']) {
      const answer = await post(relay, NODE_A_TOKEN, { action: 'delete', path: `/user_homes/${name}` });
      expect(answer.body.status).toBe('PENDING'); // three deletes: far from the window's limit
      ids[name] = answer.body.id;
    }
    await vi.waitFor(() => expect(onPeer(peer, 'user_homes/small')).toBe(false), { timeout: 30_000 });
    await vi.waitFor(
      async () => expect((await heldChanges(relay)).map((c) => c.id).sort()).toEqual([ids.deep, ids.flat].sort()),
      {
        timeout: 30_000,
        interval: 50,
      },
    );
    const flat = (await heldChanges(relay)).find((c) => c.id === ids.flat)!;
    expect(flat.peers[0]!.lastError).toMatch(/\/user_homes\/flat holds more than 50 entries on server2/);
    const requests = await peer.requests();
    // (Apache redirects a folder named without its slash: mod_dir.)
    const deletes = requests.filter((r) => r.method === 'DELETE' && r.status !== 301);
    expect(deletes.map((r) => r.path)).toEqual(['/user_homes/small/']);
    // Depth 1 listings, stopped at 51: the deep folder and 4 of its 12 subfolders are listed, not the other 8.
    const listings = requests.filter((r) => r.method === 'PROPFIND' && r.path.startsWith('/user_homes/deep/'));
    expect(listings.map((r) => r.path)).toContain('/user_homes/deep/');
    expect(new Set(listings.map((r) => r.path)).size).toBe(5);
    const { body: peers } = await call<{ held: number }[]>(relay, 'GET', '/v1/peers');
    expect(peers[0]!.held).toBe(2);

    // Discard one: the peer keeps it. Release the other: deleted, without being counted again.
    expect((await call(relay, 'DELETE', `/v1/changes/${ids.flat}`)).status).toBe(200);
    expect((await call(relay, 'POST', `/v1/changes/${ids.deep}/retry`)).status).toBe(200);
    await vi.waitFor(() => expect(onPeer(peer, 'user_homes/deep')).toBe(false), { timeout: 30_000 });
    expect(onPeer(peer, 'user_homes/flat/f119.txt')).toBe(true);
    expect(await heldChanges(relay)).toEqual([]);
    const after = (await peer.requests()).slice(requests.length);
    expect(after.filter((r) => r.method === 'PROPFIND' && r.path.startsWith('/user_homes/deep'))).toEqual([]);
  }, 120_000);

  it("a resync's removals go through the guard: the job holds the excess and ends once they are released", async () => {
    const { peer, relay } = await resyncWithExtras();

    const job = await startJob(relay.url, 'resync', 'server2', { from: 'primary', path: '/user_homes', delete: true });
    // Eight removals in one batch: 5 pass the window (0big, a0..a3), a4..a6 are HELD; 0big is HELD at replay.
    await vi.waitFor(
      async () => {
        expect(await heldChanges(relay)).toHaveLength(4);
        const { body } = await call<{ status: string; counts: { held: number; deleted: number } }>(
          relay,
          'GET',
          `/v1/jobs/${job}`,
        );
        expect(body).toMatchObject({ status: 'RUNNING', counts: { held: 4, deleted: 4 } });
      },
      { timeout: 30_000, interval: 100 },
    );
    expect(onPeer(peer, 'user_homes/0big/f0.txt')).toBe(true);
    expect(onPeer(peer, 'user_homes/a6.txt')).toBe(true);

    expect(await call(relay, 'POST', '/v1/holds/release')).toEqual({ status: 200, body: { released: 4 } });
    const done = await jobEnd(relay.url, job);
    expect(done).toMatchObject({ status: 'DONE', counts: { held: 4, deleted: 8, failed: 0 } });
    expect([...(await peer.tree()).keys()].filter((p) => p.startsWith('user_homes/'))).toEqual(['user_homes/keep.txt']);
  }, 120_000);

  it("a live change to a path a resync's removal is HELD for goes on: the job leaves that removal out", async () => {
    const { peer, relay } = await resyncWithExtras();

    const job = await startJob(relay.url, 'resync', 'server2', { from: 'primary', path: '/user_homes', delete: true });
    // As above: a4..a6 HELD by the window when written, 0big HELD by the folder rule at replay.
    await vi.waitFor(async () => expect(await heldChanges(relay)).toHaveLength(4), { timeout: 30_000, interval: 100 });

    // The node writes into the folder the job wanted gone, and uploads a6 again: the source has them now.
    const live = [
      await post(relay, NODE_A_TOKEN, { action: 'makedir', path: '/user_homes/0big/new' }),
      await post(relay, NODE_A_TOKEN, { action: 'makedir', path: '/user_homes/a6.txt.d' }),
      await post(relay, NODE_A_TOKEN, { action: 'delete', path: '/user_homes/a6.txt' }),
    ];
    expect(live.map((l) => l.status)).toEqual([202, 202, 202]);
    // Replayed without an operator: the job's removals of 0big and a6 are left out, the others stay HELD.
    await vi.waitFor(() => expect(onPeer(peer, 'user_homes/0big/new')).toBe(true), { timeout: 30_000 });
    await vi.waitFor(() => expect(onPeer(peer, 'user_homes/a6.txt')).toBe(false), { timeout: 30_000 });
    expect(onPeer(peer, 'user_homes/a6.txt.d')).toBe(true);
    expect(onPeer(peer, 'user_homes/0big/f0.txt')).toBe(true);
    await vi.waitFor(
      async () =>
        expect((await heldChanges(relay)).map((c) => c.path).sort()).toEqual([
          '/user_homes/a4.txt',
          '/user_homes/a5.txt',
        ]),
      { timeout: 30_000, interval: 100 },
    );

    expect(await call(relay, 'POST', '/v1/holds/release')).toEqual({ status: 200, body: { released: 2 } });
    const done = await jobEnd(relay.url, job);
    expect(done).toMatchObject({ status: 'DONE', counts: { deleted: 6, failed: 0 } });
    expect(onPeer(peer, 'user_homes/a5.txt')).toBe(false);
    expect(onPeer(peer, 'user_homes/0big/f0.txt')).toBe(true); // the live change made it the source's again
  }, 120_000);

  // A resync that FAILED (the source refused to list a folder) returned from its run on its own, and only a job
  // that threw or was cancelled had its writes dropped: its HELD removals stayed, and a live change to one of
  // their paths waited behind a job that would never release it (found by a review).
  it('a resync that fails mid-walk leaves no HELD removal behind: live changes to those paths go on', async () => {
    const source = await startApache();
    cleanups.push(() => source.close());
    await writeTree(source, { 'user_homes/keep.txt': 'kept', 'user_homes/zz/x.txt': 'x' });
    await chmod(join(source.root, 'user_homes/zz'), 0o000); // listed in its parent, refused itself: the job fails
    cleanups.push(() => chmod(join(source.root, 'user_homes/zz'), 0o755));
    const peer = await startApache();
    cleanups.push(() => peer.close());
    const extras: Record<string, string> = { 'user_homes/keep.txt': 'kept' };
    for (let i = 0; i < 7; i++) extras[`user_homes/a${i}.txt`] = 'extra';
    await writeTree(peer, extras);
    const relay = await startTestRelay({
      peers: [peerConfig(peer, 'server2')],
      sources: [sourceConfig(source, 'primary')],
      deleteGuard: { maxDeletes: 5, windowSeconds: 60 },
    });
    cleanups.push(() => relay.close());

    const job = await startJob(relay.url, 'resync', 'server2', { from: 'primary', path: '/user_homes', delete: true });
    expect(await jobEnd(relay.url, job)).toMatchObject({ status: 'FAILED' });
    await vi.waitFor(async () => expect(await heldChanges(relay)).toEqual([]), { timeout: 30_000, interval: 100 });
    // The node removes a file whose removal the job had wanted too (the guard had HELD that one): replayed at once.
    expect(await post(relay, NODE_A_TOKEN, { action: 'makedir', path: '/user_homes/a6.txt.d' })).toMatchObject({
      status: 202,
    });
    expect(await post(relay, NODE_A_TOKEN, { action: 'delete', path: '/user_homes/a6.txt' })).toMatchObject({
      status: 202,
    });
    await vi.waitFor(() => expect(onPeer(peer, 'user_homes/a6.txt')).toBe(false), { timeout: 30_000 });
    expect(onPeer(peer, 'user_homes/a6.txt.d')).toBe(true);
  }, 60_000);

  it('a rename onto a folder holding more than maxDeletes entries on the peer is HELD at replay', async () => {
    // The peer replaces the target of a MOVE (Overwrite: T), so this deleted the 60 files unheld (found by a review).
    const files: Record<string, string> = { 'user_homes/x.txt': 'x' };
    for (let i = 0; i < 60; i++) files[`user_homes/big/f${i}.txt`] = 'keep';
    const { peer, relay } = await cluster(files, 50);
    const { body } = await post(relay, NODE_A_TOKEN, {
      action: 'rename',
      path: '/user_homes/x.txt',
      target: '/user_homes/big',
    });
    await vi.waitFor(async () => expect((await heldChanges(relay)).map((c) => c.id)).toContain(body.id), {
      timeout: 20_000,
    });
    expect((await peer.requests()).filter((r) => r.method === 'MOVE')).toEqual([]);
    expect(onPeer(peer, 'user_homes/big/f0.txt') && onPeer(peer, 'user_homes/x.txt')).toBe(true);
  }, 60_000);

  it('a delete released from the window rule is still counted by the folder rule', async () => {
    const files: Record<string, string> = { 'user_homes/a': 'x', 'user_homes/b': 'x' };
    for (let i = 0; i < 10; i++) files[`user_homes/big/f${i}`] = 'x';
    const { peer, relay } = await cluster(files, 2);
    await post(relay, NODE_A_TOKEN, { action: 'delete', path: '/user_homes/a' });
    await post(relay, NODE_A_TOKEN, { action: 'delete', path: '/user_homes/b' });
    const big = await post(relay, NODE_A_TOKEN, { action: 'delete', path: '/user_homes/big' });
    expect(big.body.status).toBe('HELD'); // the window rule: a burst
    expect(await call(relay, 'POST', '/v1/holds/release?node=node-a')).toEqual({ status: 200, body: { released: 1 } });
    // Released from the burst, it is a delete of a folder of 10 entries (more than 2): the folder rule holds it.
    await vi.waitFor(
      async () => {
        const [held] = await heldChanges(relay);
        expect(held).toMatchObject({
          id: big.body.id,
          peers: [{ lastError: expect.stringContaining('holds more than 2') }],
        });
      },
      { timeout: 30_000, interval: 100 },
    );
    expect(onPeer(peer, 'user_homes/big/f0')).toBe(true);
    // Released again, from the folder rule now: deleted without being counted again.
    expect(await call(relay, 'POST', '/v1/holds/release')).toEqual({ status: 200, body: { released: 1 } });
    await vi.waitFor(() => expect(onPeer(peer, 'user_homes/big')).toBe(false), { timeout: 30_000 });
  }, 60_000);

  it("skipping a change released earlier leaves the node's current window alone", async () => {
    // No replay: the released change stays in the journal (as it would while its peer is down, or once CONFLICT).
    const { relay, del } = await withoutReplay(2);
    expect((await del('/user_homes/a')).status).toBe('PENDING');
    expect((await del('/user_homes/b')).status).toBe('PENDING');
    const held = await del('/user_homes/c');
    expect(held.status).toBe('HELD');
    expect((await call(relay, 'POST', `/v1/changes/${held.id}/retry`)).status).toBe(200); // the window starts over
    expect((await del('/user_homes/d')).status).toBe('PENDING');
    expect((await del('/user_homes/e')).status).toBe('PENDING');
    // The released change is still in the journal (say CONFLICT on the peer): skipping it acts on no hold.
    expect((await call(relay, 'DELETE', `/v1/changes/${held.id}`)).status).toBe(200);
    expect((await del('/user_homes/f')).status).toBe('HELD');
  }, 60_000);

  it('a release racing a held delete on its way into the journal leaves the node tripped', async () => {
    const { relay, del } = await withoutReplay(1);
    expect((await del('/user_homes/a')).status).toBe('PENDING');
    expect((await del('/user_homes/b')).status).toBe('HELD');
    // The next held delete's write takes a moment (an fsync under load): the test holds it.
    const store = relay.relay.store;
    const create = store.create.bind(store);
    let open = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    let reached = () => {};
    const atWrite = new Promise<void>((resolve) => {
      reached = resolve;
    });
    store.create = (async (entries: readonly JournalEntry[], options?: { durable?: boolean }) => {
      if (entries[0]?.status === 'HELD') {
        reached();
        await gate;
      }
      return create(entries, options);
    }) as typeof store.create;
    const third = del('/user_homes/c'); // admitted HELD (the node is tripped), not written yet
    await atWrite;
    // Meanwhile the operator releases the one held change there is to see.
    expect(await call(relay, 'POST', '/v1/holds/release?node=node-a')).toEqual({ status: 200, body: { released: 1 } });
    open();
    expect((await third).status).toBe('HELD');
    store.create = create;
    // The journal holds a delete of node-a HELD by the window rule again: the node stays tripped.
    expect(await relay.relay.deleteGuard.tripped('node-a')).toBe(true);
    expect((await del('/user_homes/d')).status).toBe('HELD');
  }, 60_000);

  it('an empty ?peer= on retry or skip is 400, not every peer', async () => {
    const { relay } = await cluster({}, 1);
    await post(relay, NODE_A_TOKEN, { action: 'delete', path: '/user_homes/a' });
    const held = await post(relay, NODE_A_TOKEN, { action: 'delete', path: '/user_homes/b' });
    expect(held.body.status).toBe('HELD');
    for (const [method, path] of [
      ['DELETE', `/v1/changes/${held.body.id}?peer=`],
      ['POST', `/v1/changes/${held.body.id}/retry?peer=`],
    ] as const) {
      const answer = await call<{ error: { code: string } }>(relay, method, path);
      expect([answer.status, answer.body.error.code]).toEqual([400, 'BAD_REQUEST']);
    }
    expect((await heldChanges(relay)).map((c) => c.id)).toEqual([held.body.id]);
  }, 60_000);

  it('refuses bad input to the holds API and answers 401/403 without the admin token', async () => {
    const { relay } = await cluster({}, 2);
    const bad = await call<{ error: { code: string } }>(relay, 'POST', '/v1/holds/release?node=..%2Fx');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('BAD_REQUEST');
    const asNode = await fetch(`${relay.url}/v1/holds/release`, { method: 'POST', headers: auth(NODE_A_TOKEN) });
    expect(asNode.status).toBe(403);
    const anonymous = await fetch(`${relay.url}/v1/holds/discard`, { method: 'POST' });
    expect(anonymous.status).toBe(401);
    expect(await call(relay, 'POST', '/v1/holds/release')).toEqual({ status: 200, body: { released: 0 } });
  });
});
