import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle } from '../support/child.js';
import { runCli } from '../support/cli.js';
import { waitFor } from '../support/node-client.js';
import { NODE_A_TOKEN, startTestRelay } from '../support/relay.js';
import { tempDir } from '../support/tmp.js';

// What every command shares: --version, exit statuses (0 ok, 1 error, 2 usage), one-line errors naming the key,
// and `config check`.

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const VERSION = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version as string;

describe('vfs-relay command-line conventions', { timeout: 90_000 }, () => {
  let main: string;
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    main = await bundle(MAIN);
    tmp = await tempDir();
  }, 60_000);
  afterAll(() => tmp.remove());

  const writeConfig = async (name: string, config: unknown): Promise<string> => {
    const file = join(tmp.dir, name);
    await writeFile(file, JSON.stringify(config));
    return file;
  };

  it('prints the package version with --version and -V', async () => {
    for (const flag of ['--version', '-V']) {
      expect(await runCli(main, [flag])).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
    }
  });

  it('exits 2 on a usage error: unknown command, unknown option, missing option', async () => {
    expect((await runCli(main, ['frobnicate'])).code).toBe(2);
    const unknown = await runCli(main, ['status', '--bogus']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown option '--bogus'");
    expect((await runCli(main, ['agent', '--relay', 'http://127.0.0.1:9'])).code).toBe(2);
    expect((await runCli(main, ['journal', 'show'])).code).toBe(2);
  });

  it('a command group says in one line that it wants a command, and `help` there still shows the help', async () => {
    const bare = await runCli(main, ['journal']);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/^vfs-relay: journal: name a command \(ls, show, retry, skip\)[^\n]*\n$/);
    const help = await runCli(main, ['journal', 'help', 'ls']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: vfs-relay journal ls');
  });

  it('exits 1 with one line when the command fails', async () => {
    const run = await runCli(main, ['status', '--relay', 'http://127.0.0.1:9', '--token', 'x'.repeat(20)]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^vfs-relay: cannot reach the relay at http:\/\/127\.0\.0\.1:9 \(.+\)\n$/);
  });

  it('config check prints the effective configuration with defaults and every secret masked', async () => {
    const file = await writeConfig('good.json', {
      $schema: './node_modules/vfs-relay/schema/vfs-relay.config.schema.json',
      peers: [
        { name: 'server2', url: 'https://server2.example.com/', username: 'r', password: { env: 'PEER_PASSWORD' } },
        { name: 'server3', url: 'https://server3.example.com/', username: 'r', password: 'inline-peer-secret' },
      ],
      auth: { adminToken: 'inline-admin-secret-0123', nodeTokens: { 'node-a': { env: 'NODE_A_TOKEN' } } },
    });
    const env = { PEER_PASSWORD: 'env-peer-secret', NODE_A_TOKEN: 'env-node-secret-0123' };
    const run = await runCli(main, ['config', 'check', '--config', file], env);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe(`vfs-relay: config OK (${file})\n`);
    const printed = JSON.parse(run.stdout);
    expect(printed.peers[0].password).toEqual({ env: 'PEER_PASSWORD' });
    expect(printed.peers[1].password).toBe('***');
    expect(printed.auth).toEqual({ adminToken: '***', nodeTokens: { 'node-a': { env: 'NODE_A_TOKEN' } } });
    expect(printed.replay).toEqual({ concurrency: 8, requestTimeoutSeconds: 60 }); // defaults filled in
    expect(printed.vfs).toEqual([{ path: '/', replicate: true }]);
    for (const secret of ['inline-peer-secret', 'inline-admin-secret-0123', ...Object.values(env)]) {
      expect(run.stdout + run.stderr).not.toContain(secret);
    }
  });

  it('config check shows the admin token from $VFS_RELAY_ADMIN_TOKEN as the variable, never its value', async () => {
    const file = await writeConfig('env-admin.json', {});
    const run = await runCli(main, ['config', 'check', '--config', file], {
      VFS_RELAY_ADMIN_TOKEN: 'from-env-0123456',
    });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).auth.adminToken).toEqual({ env: 'VFS_RELAY_ADMIN_TOKEN' });
    expect(run.stdout).not.toContain('from-env-0123456');
  });

  it.each([
    [
      'an S3 bucket name',
      { journal: 's3://Relay_Journal/prod', queue: 'https://sqs.eu-west-1.amazonaws.com/123456789012/r.fifo' },
      /^vfs-relay: config journal: "Relay_Journal" is not a valid S3 bucket name .*\n$/,
    ],
    [
      'an SQS queue URL',
      { journal: 's3://relay-journal/prod', queue: 'https://sqs.eu-west-1.amazonaws.com/relay.fifo' },
      /^vfs-relay: config queue: .* is not an SQS queue URL .*\n$/,
    ],
    [
      'a queue that is not FIFO',
      { journal: 's3://relay-journal/prod', queue: 'https://sqs.eu-west-1.amazonaws.com/123456789012/relay' },
      /^vfs-relay: config queue: an SQS FIFO queue URL .*\n$/,
    ],
    [
      'an unset secret variable',
      { peers: [{ name: 's', url: 'https://s.example.com/', password: { env: 'NOT_SET_ANYWHERE' } }] },
      /^vfs-relay: config peers\[0\]\.password: environment variable NOT_SET_ANYWHERE is not set .*\n$/,
    ],
  ])('config check and serve refuse %s in one line naming the key (exit 1)', async (_what, config, line) => {
    const file = await writeConfig('bad.json', { ...config, auth: { adminToken: 'admin-token-0123456789' } });
    for (const command of [['config', 'check'], ['serve']]) {
      const run = await runCli(main, [...command, '--config', file]);
      expect(run.code, command.join(' ')).toBe(1);
      expect(run.stderr, command.join(' ')).toMatch(line);
      expect(run.stdout).toBe('');
    }
  });

  it("shows the agent's scan at start (files, folders, bytes) when forced, as on a terminal", async () => {
    const relay = await startTestRelay({ peers: [{ name: 'server2', url: 'http://127.0.0.1:9/' }] }, { replay: false });
    const watch = join(tmp.dir, 'scanned');
    await mkdir(join(watch, 'sub'), { recursive: true });
    await writeFile(join(watch, 'a.txt'), 'x'.repeat(10));
    await writeFile(join(watch, 'sub', 'b.txt'), 'y'.repeat(20));
    const args = ['agent', '--relay', relay.url, '--token', NODE_A_TOKEN, '--vfs', '/user_homes/', '--watch', watch];
    const agent = spawn(process.execPath, [main, ...args, '--state', join(tmp.dir, 'scan-state')], {
      env: { ...process.env, VFS_RELAY_PROGRESS: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    agent.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => agent.once('exit', resolve));
    try {
      await waitFor(
        // The folder is named "scanned" too: wait for the summary line itself, not for the name in a progress line.
        async () => stderr.includes(`scanned ${watch}:`),
        30_000,
        () => stderr,
      );
      expect(stderr).toContain(`scanned ${watch}: 2 files, 1 folders, 30 B in `);
    } finally {
      agent.kill('SIGINT');
      expect(await exited).toBe(0);
      await relay.close();
    }
  });
});
