import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApachePeer, apacheAvailable, peerConfig, startApache } from '../support/apache.js';
import { bundle } from '../support/child.js';
import { runCli } from '../support/cli.js';
import { postChange, waitFor } from '../support/node-client.js';
import { freePort } from '../support/ports.js';
import { ADMIN_TOKEN, auth, NODE_A_TOKEN, startTestRelay } from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';
import { tempDir } from '../support/tmp.js';

// The operator's command line against a relay started with `vfs-relay serve`, replaying to a real Apache: status,
// journal ls/show/retry/skip, the token from a flag or the environment, errors as one line, clean shutdown.

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

/** `vfs-relay agent` running in a child until it is watching; `output()` is its JSON log and its errors. */
async function startAgentCommand(main: string, args: string[], env: Record<string, string> = {}) {
  const agent = spawn(process.execPath, [main, 'agent', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  agent.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  agent.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => agent.once('exit', (code) => resolve(code)));
  await waitFor(
    async () => output.includes('agent watching'),
    20_000,
    () => output,
  );
  return { process: agent, exited, output: () => output };
}

describeWithServer('Apache httpd (apt-get install apache2)', apacheAvailable, 'vfs-relay CLI', () => {
  let apache: ApachePeer;
  let tmp: { dir: string; remove: () => Promise<void> };
  let serve: ChildProcess;
  let serveExit: Promise<number | null>;
  let relay: string;
  let main: string;

  const cli = (args: string[], env: Record<string, string> = {}) => runCli(main, args, env);
  const operator = (...args: string[]) => cli([...args, '--relay', relay, '--token', ADMIN_TOKEN]);

  async function conflicts(): Promise<string[]> {
    const res = await fetch(`${relay}/v1/changes?status=CONFLICT`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    return ((await res.json()) as { items: { id: string }[] }).items.map((c) => c.id);
  }

  async function putOnPeer(path: string, body: string): Promise<void> {
    const auth = `Basic ${Buffer.from(`${apache.username}:${apache.password}`).toString('base64')}`;
    const res = await fetch(new URL(path.slice(1), apache.url), {
      method: 'PUT',
      headers: { authorization: auth },
      body,
    });
    expect(res.status).toBeLessThan(300);
  }

  beforeAll(async () => {
    main = await bundle(MAIN);
    apache = await startApache();
    tmp = await tempDir();
    const port = await freePort();
    relay = `http://127.0.0.1:${port}`;
    const config = join(tmp.dir, 'vfs-relay.config.json');
    await writeFile(
      config,
      JSON.stringify({
        listen: { host: '127.0.0.1', port },
        journal: join(tmp.dir, 'data'),
        peers: [peerConfig(apache, 'apache')],
        vfs: [{ path: '/user_homes/', replicate: true }],
        auth: { adminToken: { env: 'TEST_ADMIN_TOKEN' }, nodeTokens: { 'node-a': NODE_A_TOKEN } },
      }),
    );
    serve = spawn(process.execPath, [main, 'serve', '--config', config], {
      env: { ...process.env, TEST_ADMIN_TOKEN: ADMIN_TOKEN },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    serve.stderr!.resume();
    serveExit = new Promise((resolve) => serve.once('exit', (code) => resolve(code)));
    await waitFor(
      async () => {
        const res = await fetch(`${relay}/openapi.json`).catch(() => undefined);
        await res?.arrayBuffer(); // read to the end: an unread answer keeps its connection busy at shutdown
        return res?.status === 200;
      },
      20_000,
      () => 'vfs-relay serve did not come up',
    );
  }, 60_000);

  afterAll(async () => {
    if (serve && serve.exitCode === null) {
      serve.kill('SIGKILL');
      await serveExit;
    }
    await apache?.close();
    await tmp?.remove();
  });

  it('shows peers and parked changes; retry after the peer is fixed applies them in order; skip drops one', async () => {
    await postChange(relay, NODE_A_TOKEN, { action: 'upload', path: '/user_homes/a.txt', body: Buffer.from('a') });
    const rename = await postChange(relay, NODE_A_TOKEN, {
      action: 'rename',
      path: '/user_homes/ghost.txt', // never existed on the peer: CONFLICT
      target: '/user_homes/found.txt',
    });
    const behind = await postChange(relay, NODE_A_TOKEN, {
      action: 'upload',
      path: '/user_homes/found.txt',
      body: Buffer.from('newer'),
    });
    await waitFor(
      async () => (await conflicts()).includes(rename),
      20_000,
      () => 'no CONFLICT',
    );

    // The token from the environment.
    const status = await cli(['status', '--relay', relay], { VFS_RELAY_ADMIN_TOKEN: ADMIN_TOKEN });
    expect(status).toMatchObject({ code: 0, stderr: '' });
    expect(status.stdout).toMatch(/PEER\s+STATUS\s+PENDING/);
    expect(status.stdout).toMatch(/apache\s+ONLINE/);
    expect(status.stdout).toContain('Needs an operator');
    expect(status.stdout).toContain(rename);
    expect(status.stdout).toContain('rename source missing');

    const json = JSON.parse((await operator('status', '--json')).stdout) as {
      peers: { name: string; conflicts: number; blocked: number }[];
    };
    expect(json.peers).toMatchObject([{ name: 'apache', conflicts: 1, blocked: 1 }]);
    // Every table has a --json form.
    const listedJson = JSON.parse((await operator('journal', 'ls', '--json')).stdout) as { id: string }[];
    expect(listedJson.map((c) => c.id)).toEqual(expect.arrayContaining([rename, behind]));
    const shownJson = JSON.parse((await operator('journal', 'show', rename, '--json')).stdout) as {
      id: string;
      peers: { peer: string; status: string }[];
    };
    expect(shownJson).toMatchObject({ id: rename, peers: [{ peer: 'apache', status: 'CONFLICT' }] });

    const listed = await operator('journal', 'ls', '--status', 'CONFLICT');
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(rename);
    expect(listed.stdout).not.toContain(behind);
    const blocked = await operator('journal', 'ls', '--status', 'BLOCKED');
    expect(blocked.stdout).toContain(behind);
    // A filter that matches nothing says so (not "The journal is empty."); a status that is none is a usage error.
    expect((await operator('journal', 'ls', '--status', 'HELD')).stdout).toBe('No change matches --status HELD.\n');
    const bogus = await operator('journal', 'ls', '--status', 'FOO');
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toMatch(/^vfs-relay: --status FOO: not a status; one of AWAITING_BODY, PENDING, [^\n]+\n$/);
    // Stopped at --limit: it says more exist (it said nothing; found by a review). Not when the list is whole.
    expect((await operator('journal', 'ls', '--limit', '1')).stdout).toContain(
      '… the first 1; more in the journal: raise --limit to see them',
    );
    expect(listed.stdout).not.toContain('more in the journal');

    const shown = await operator('journal', 'show', rename);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/action\s+rename/);
    expect(shown.stdout).toMatch(/apache\s+CONFLICT\s+1/);

    // The operator puts the missing source on the peer, then retries: the rename and the upload behind it land.
    await putOnPeer('/user_homes/ghost.txt', 'old');
    const retried = await operator('journal', 'retry', rename);
    expect(retried).toMatchObject({ code: 0, stdout: `retrying ${rename}: apache PENDING\n` });
    await waitFor(
      async () =>
        (await apache.tree()).has('user_homes/found.txt') && !(await apache.tree()).has('user_homes/ghost.txt'),
      20_000,
    );
    await waitFor(async () => (await operator('journal', 'ls')).stdout === 'The journal is empty.\n', 20_000);

    // Another conflict, skipped.
    const again = await postChange(relay, NODE_A_TOKEN, {
      action: 'rename',
      path: '/user_homes/nowhere.txt',
      target: '/user_homes/else.txt',
    });
    await waitFor(
      async () => (await conflicts()).includes(again),
      20_000,
      () => 'no second CONFLICT',
    );
    const skipped = await operator('journal', 'skip', again);
    expect(skipped).toMatchObject({ code: 0, stdout: `skipped ${again} for apache\n` });
    expect((await operator('journal', 'ls')).stdout).toBe('The journal is empty.\n');
  }, 90_000);

  it('reports a wrong or missing token and an unknown change as one line, without echoing the token', async () => {
    const wrong = await cli(['status', '--relay', relay, '--token', 'not-the-admin-token-4711']);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/^vfs-relay: 401 /);
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
    expect(wrong.stderr + wrong.stdout).not.toContain('4711');

    const missing = await cli(['journal', 'ls', '--relay', relay]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toBe('vfs-relay: no admin token: pass --token or set VFS_RELAY_ADMIN_TOKEN\n');

    const unknown = await operator('journal', 'show', '20200101T000000000Z-000000-abcdef');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/^vfs-relay: 404 /);

    const down = await cli(['status', '--relay', `http://127.0.0.1:${await freePort()}`, '--token', ADMIN_TOKEN]);
    expect(down.code).not.toBe(0);
    expect(down.stderr).toMatch(/^vfs-relay: cannot reach the relay at .*ECONNREFUSED/);
  }, 90_000); // four CLI processes one after the other: seconds each on a busy machine

  it('serve stops cleanly on SIGTERM (exit code 0)', async () => {
    serve.kill('SIGTERM');
    expect(await serveExit).toBe(0);
  });
});

describe('vfs-relay agent (the command)', () => {
  it('journals a file dropped in the folder (token and relay from the environment), and stops on SIGINT with 0', async () => {
    const main = await bundle(MAIN);
    const t = await startTestRelay({ peers: [{ name: 'server2', url: 'http://127.0.0.1:9/' }] }, { replay: false });
    const tmp = await tempDir();
    try {
      const watch = join(tmp.dir, 'watched');
      await mkdir(watch);
      const state = join(tmp.dir, 'state');
      const agent = await startAgentCommand(
        main,
        ['--vfs', '/user_homes/', '--watch', watch, '--state', state, '--user', 'john'],
        {
          VFS_RELAY_URL: t.url,
          VFS_RELAY_NODE_TOKEN: NODE_A_TOKEN,
        },
      );
      await writeFile(join(watch, 'hello.txt'), 'hello');
      await waitFor(
        async () => {
          const res = await t.relay.app.request('/v1/changes?peer=server2', { headers: auth(ADMIN_TOKEN) });
          const { items } = (await res.json()) as { items: { path: string; user?: string; status: string }[] };
          return items.some((c) => c.path === '/user_homes/hello.txt' && c.user === 'john' && c.status === 'PENDING');
        },
        20_000,
        () => agent.output(),
      );
      agent.process.kill('SIGINT');
      expect(await agent.exited).toBe(0);
      expect(agent.output()).toContain('agent stopped');
      expect(agent.output()).not.toContain(NODE_A_TOKEN);
    } finally {
      await t.close();
      await tmp.remove();
    }
  }, 60_000);

  it('refuses a bad --watcher, and exits 1 when the watched folder goes away', async () => {
    const main = await bundle(MAIN);
    const tmp = await tempDir();
    const t = await startTestRelay({ peers: [{ name: 'server2', url: 'http://127.0.0.1:9/' }] }, { replay: false });
    try {
      const watch = join(tmp.dir, 'watched');
      await mkdir(watch);
      const state = join(tmp.dir, 'state');
      const args = [
        '--relay',
        t.url,
        '--token',
        NODE_A_TOKEN,
        '--vfs',
        '/user_homes/',
        '--watch',
        watch,
        '--state',
        state,
      ];
      const bad = await runCli(main, ['agent', ...args, '--watcher', 'magic']);
      expect(bad).toMatchObject({
        code: 2, // a usage error
        stderr: 'vfs-relay: --watcher must be one of folders, chokidar, not magic\n',
      });

      const agent = await startAgentCommand(main, args);
      await rename(watch, join(tmp.dir, 'moved-away'));
      expect(await agent.exited).toBe(1);
      expect(agent.output()).toContain('the watched folder is gone');
      expect(agent.output()).toMatch(
        /vfs-relay: the agent stopped: the watched folder .* was removed, moved or replaced/,
      );
    } finally {
      await t.close();
      await tmp.remove();
    }
  }, 60_000);
});
