import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type ApachePeer, apacheAvailable, peerConfig, startApache } from '../support/apache.js';
import { bundle } from '../support/child.js';
import { runCli } from '../support/cli.js';
import { makeFolder, sourceConfig, writeTree } from '../support/convergence.js';
import { ADMIN_TOKEN, startTestRelay, type TestRelay } from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';

// `vfs-relay peer verify|resync` and `vfs-relay jobs ls|show|cancel` against a relay with a source and a peer.

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

describeWithServer('Apache httpd (apt-get install apache2)', apacheAvailable, 'vfs-relay peer and jobs', () => {
  let source: ApachePeer;
  let peer: ApachePeer;
  let relay: TestRelay;
  let main: string;

  const operator = (...args: string[]) => runCli(main, [...args, '--relay', relay.url, '--token', ADMIN_TOKEN]);

  beforeAll(async () => {
    source = await startApache();
    peer = await startApache();
    const files: Record<string, string> = {};
    for (let i = 0; i < 12; i++) files[`user_homes/u${i % 3}/f${i}.txt`] = `file ${i}`;
    await writeTree(source, files, new Date('2024-03-01T10:00:00Z'));
    await makeFolder(peer, 'user_homes');
    relay = await startTestRelay({ peers: [peerConfig(peer, 'server2')], sources: [sourceConfig(source, 'primary')] });
    main = await bundle(MAIN);
  });

  afterAll(async () => {
    await relay?.close();
    await source?.close();
    await peer?.close();
  });

  it('verify exits 3 with the differences, resync copies them, verify then exits 0', async () => {
    const first = await operator('peer', 'verify', 'server2', '--from', 'primary', '--path', '/user_homes');
    expect(first.code).toBe(3);
    expect(first.stdout).toMatch(/missing 15/);
    expect(first.stdout).toMatch(/missing\s+\/user_homes\/u0\s+dir/);

    const json = await operator('peer', 'verify', 'server2', '--from', 'primary', '--path', '/user_homes', '--json');
    expect(json.code).toBe(3);
    const answer = JSON.parse(json.stdout) as { job: { counts: { missing: number } }; differences: unknown[] };
    expect(answer.job.counts.missing).toBe(15);
    expect(answer.differences).toHaveLength(15);

    const resync = await operator('peer', 'resync', 'server2', '--from', 'primary', '--path', '/user_homes');
    expect(resync.code).toBe(0);
    expect(resync.stdout).toMatch(/DONE/);
    expect(resync.stdout).toMatch(/copied 15, deleted 0/);
    expect(await peer.tree()).toEqual(await source.tree());

    const last = await operator('peer', 'verify', 'server2', '--from', 'primary', '--path', '/user_homes');
    expect(last.code).toBe(0);
    expect(last.stdout).toMatch(/same 15/);
  });

  it('resync --detach prints the id; jobs ls, show and cancel', async () => {
    const detached = await operator('peer', 'resync', 'server2', '--from', 'primary', '--detach');
    expect(detached.code).toBe(0);
    const id = detached.stdout.trim();
    expect(id).toMatch(/^\d{8}T\d{9}Z-\d{6}-[0-9a-f]{6}$/);

    const list = await operator('jobs', 'ls');
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')[1]).toContain(id); // newest first

    const shown = await runCli(main, ['jobs', 'show', id, '--relay', relay.url, '--json'], {
      VFS_RELAY_ADMIN_TOKEN: ADMIN_TOKEN,
    });
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout).job).toMatchObject({ id, kind: 'resync', peer: 'server2', from: 'primary' });

    // Let it finish: a finished job cannot be cancelled.
    for (let i = 0; i < 200; i++) {
      const job = JSON.parse((await operator('jobs', 'show', id, '--json')).stdout).job as { status: string };
      if (job.status !== 'RUNNING') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const cancel = await operator('jobs', 'cancel', id);
    expect(cancel.code).toBe(1);
    expect(cancel.stderr).toMatch(/^vfs-relay: 409 JOB_NOT_RUNNING: /);
  });

  it('refuses an unknown peer or source with one line', async () => {
    const peerMissing = await operator('peer', 'verify', 'nope', '--from', 'primary');
    expect(peerMissing.code).toBe(1);
    expect(peerMissing.stderr).toBe('vfs-relay: 404 PEER_NOT_FOUND: no peer named "nope"\n');
    const sourceMissing = await operator('peer', 'resync', 'server2', '--from', 'elsewhere');
    expect(sourceMissing.code).toBe(1);
    expect(sourceMissing.stderr).toMatch(/404 SOURCE_NOT_FOUND/);
    const same = await operator('peer', 'resync', 'server2', '--from', 'server2');
    expect(same.stderr).toMatch(/422 SAME_PEER/);
  });
});
