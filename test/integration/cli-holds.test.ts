import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { type ApachePeer, apacheAvailable, peerConfig, startApache } from '../support/apache.js';
import { bundle } from '../support/child.js';
import { runCli } from '../support/cli.js';
import { writeTree } from '../support/convergence.js';
import {
  ADMIN_TOKEN,
  jsonHeaders,
  NODE_A_TOKEN,
  NODE_B_TOKEN,
  startTestRelay,
  type TestRelay,
} from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';

// `vfs-relay holds ls|release|discard` and the HELD column of `vfs-relay status`, against a relay on Apache.

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

describeWithServer('Apache httpd (apt-get install apache2)', apacheAvailable, 'vfs-relay holds', () => {
  let peer: ApachePeer;
  let relay: TestRelay;
  let main: string;

  const operator = (...args: string[]) => runCli(main, [...args, '--relay', relay.url, '--token', ADMIN_TOKEN]);
  const onPeer = (rel: string) => existsSync(join(peer.root, rel));
  const remove = async (token: string, rel: string) => {
    const res = await fetch(`${relay.url}/v1/changes`, {
      method: 'POST',
      headers: jsonHeaders(token),
      body: JSON.stringify({ action: 'delete', path: `/${rel}` }),
    });
    return ((await res.json()) as { status: string }).status;
  };

  beforeAll(async () => {
    peer = await startApache();
    const files: Record<string, string> = {};
    for (const node of ['a', 'b']) for (let i = 0; i < 4; i++) files[`user_homes/${node}${i}.txt`] = 'x';
    await writeTree(peer, files);
    // The relay's clock stands still: the window never slides during the test.
    const now = new Date('2026-03-01T10:00:00Z');
    relay = await startTestRelay(
      { peers: [peerConfig(peer, 'server2')], deleteGuard: { maxDeletes: 2, windowSeconds: 60 } },
      { now: () => now },
    );
    main = await bundle(MAIN);
  });

  afterAll(async () => {
    await relay?.close();
    await peer?.close();
  });

  it('lists, releases and discards per node; status shows the held count; bad input exits non-zero', async () => {
    const statuses = [];
    for (const node of ['a', 'b']) {
      for (let i = 0; i < 4; i++)
        statuses.push(await remove(node === 'a' ? NODE_A_TOKEN : NODE_B_TOKEN, `user_homes/${node}${i}.txt`));
    }
    expect(statuses).toEqual(['PENDING', 'PENDING', 'HELD', 'HELD', 'PENDING', 'PENDING', 'HELD', 'HELD']);

    const empty = await operator('holds', 'ls', '--node', 'node-c');
    expect(empty).toMatchObject({ code: 0, stderr: '' });
    expect(empty.stdout).toMatch(/holds nothing of node node-c/);

    const listed = await operator('holds', 'ls');
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/ID\s+NODE\s+PATH\s+PEERS\s+REASON/);
    expect(listed.stdout).toMatch(
      /node-a\s+\/user_homes\/a2\.txt\s+server2\s+delete guard: node node-a sent more than 2/,
    );
    expect(listed.stdout).toMatch(/node-b\s+\/user_homes\/b3\.txt/);
    expect(listed.stdout).toMatch(/4 held: vfs-relay holds release/);
    const json = JSON.parse((await operator('holds', 'ls', '--node', 'node-a', '--json')).stdout) as { path: string }[];
    expect(json.map((c) => c.path)).toEqual(['/user_homes/a2.txt', '/user_homes/a3.txt']);

    const status = await operator('status');
    expect(status.stdout).toMatch(/PEER\s+STATUS\s+PENDING\s+BYTES\s+OLDEST PENDING\s+CONFLICTS\s+FAILED\s+HELD/);
    expect(status.stdout).toMatch(/The delete guard holds 4 deletes for server2 \(/);

    const released = await operator('holds', 'release', '--node', 'node-a');
    expect(released).toMatchObject({ code: 0, stdout: 'released 2 held changes of node node-a\n', stderr: '' });
    await vi.waitFor(() => expect([onPeer('user_homes/a2.txt'), onPeer('user_homes/a3.txt')]).toEqual([false, false]), {
      timeout: 30_000,
    });
    const discarded = await operator('holds', 'discard', '--json');
    expect(discarded).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(discarded.stdout)).toEqual({ discarded: 2 });
    expect([onPeer('user_homes/b2.txt'), onPeer('user_homes/b3.txt')]).toEqual([true, true]);
    expect((await operator('holds', 'ls', '--json')).stdout.trim()).toBe('[]');

    const bad = await operator('holds', 'release', '--node', '../x');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^vfs-relay: .*node/);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    const usage = await operator('holds', 'frobnicate');
    expect(usage.code).toBe(2);
    const noToken = await runCli(main, ['holds', 'ls', '--relay', relay.url]);
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).not.toContain(ADMIN_TOKEN);
  });
});
