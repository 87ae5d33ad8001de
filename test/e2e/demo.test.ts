import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/node-client.js';
import { tempDir } from '../support/tmp.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** A copy of the repository's tracked files (what a fresh clone holds), sharing node_modules. */
function freshCheckout(into: string): void {
  const files = execFileSync('git', ['ls-files', '-z'], { cwd: REPO }).toString().split('\0').filter(Boolean);
  for (const file of files) {
    mkdirSync(dirname(join(into, file)), { recursive: true });
    try {
      copyFileSync(join(REPO, file), join(into, file));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error; // deleted in the work tree
    }
  }
  symlinkSync(join(REPO, 'node_modules'), join(into, 'node_modules'));
}

describe('npm start (vfs-relay demo) and the package from a fresh checkout', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let checkout: string;
  let child: ChildProcess | undefined;
  beforeAll(async () => {
    tmp = await tempDir('vfs-relay-demo-');
    checkout = join(tmp.dir, 'vfs-relay');
    freshCheckout(checkout);
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: checkout, stdio: 'ignore' });
  }, 120_000);
  afterAll(async () => {
    if (child?.pid && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await tmp?.remove();
  });

  it('replicates a dropped file to the secondary and stops cleanly on SIGINT', async () => {
    // Exactly what `npm start` runs (npm itself re-raises a SIGINT on its own exit, as shells expect, so its
    // exit status says nothing about the relay's), in its own process group like a terminal's foreground job.
    const scripts = (JSON.parse(readFileSync(join(checkout, 'package.json'), 'utf8')) as { scripts: { start: string } })
      .scripts;
    const [command, ...args] = scripts.start.split(' ');
    expect(command).toBe('node');
    child = spawn(process.execPath, [...args, '--port', '0'], {
      cwd: checkout,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    await waitFor(
      async () => out.includes('Press Ctrl-C to stop.'),
      30_000,
      () => out,
    );
    expect(out).toMatch(/drop files into\s+\.\/vfs-relay-demo\/primary/);
    expect(out).toMatch(/they appear in\s+\.\/vfs-relay-demo\/secondary/);
    // The web console's page, at the URL the demo prints.
    const consoleUrl = /web console\s+(http:\/\/127\.0\.0\.1:\d+\/)\s/.exec(out)?.[1];
    expect(consoleUrl).toBeDefined();
    const page = await fetch(consoleUrl!);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>vfs-relay console</title>');

    const content = `hello from the primary ${Date.now()}\n`;
    mkdirSync(join(checkout, 'vfs-relay-demo/primary/reports 2026'), { recursive: true });
    writeFileSync(join(checkout, 'vfs-relay-demo/primary/reports 2026/ünïcode.txt'), content);
    const replica = join(checkout, 'vfs-relay-demo/secondary/reports 2026/ünïcode.txt');
    await waitFor(
      async () => {
        try {
          return readFileSync(replica, 'utf8') === content;
        } catch {
          return false;
        }
      },
      20_000,
      () => out,
    );

    process.kill(-child.pid!, 'SIGINT');
    expect(await exited).toBe(0);
    expect(out).toContain('stopped.');
  }, 90_000);

  /** A project that depends on vfs-relay: node_modules/vfs-relay is the built checkout. */
  function consumerProject(): string {
    const consumer = join(tmp.dir, 'consumer');
    if (existsSync(consumer)) return consumer;
    mkdirSync(join(consumer, 'node_modules'), { recursive: true });
    symlinkSync(checkout, join(consumer, 'node_modules/vfs-relay'));
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
    return consumer;
  }

  /** Modules a Node process loaded: ESM through the recording hook, CommonJS from require's cache at exit. */
  function loadedBy(args: string[], cwd: string, env: Record<string, string> = {}): string[] {
    const log = join(tmp.dir, `loaded-${Math.random().toString(36).slice(2)}.log`);
    writeFileSync(log, '');
    const hook = fileURLToPath(new URL('../support/record-loads.mjs', import.meta.url));
    try {
      execFileSync(process.execPath, ['--import', hook, ...args], {
        cwd,
        env: { ...process.env, LOADED_LOG: log, VFS_RELAY_ADMIN_TOKEN: '', ...env },
        stdio: 'pipe',
        timeout: 30_000,
      });
    } catch {
      // a command that fails (no relay to reach) has still loaded what it loads
    }
    return readFileSync(log, 'utf8').split('\n').filter(Boolean);
  }

  it('is importable by name, as README shows: JavaScript gets the functions, TypeScript the types', () => {
    const consumer = consumerProject();
    const names = ['runAgent', 'RelayClient', 'startEmbeddedRelay', 'createApp', 'loadConfig', 'parseConfig'];
    writeFileSync(
      join(consumer, 'check.mjs'),
      `import * as relay from 'vfs-relay';\nconsole.log(JSON.stringify(${JSON.stringify(names)}.map((n) => [n, typeof relay[n]])));\n`,
    );
    const printed = execFileSync(process.execPath, ['check.mjs'], { cwd: consumer }).toString();
    expect(JSON.parse(printed)).toEqual(names.map((n) => [n, 'function']));

    writeFileSync(
      join(consumer, 'check.ts'),
      [
        "import { type ConfigFile, type JournalEntry, parseConfig, runAgent } from 'vfs-relay';",
        "const file: ConfigFile = { peers: [{ name: 'server2', url: 'https://dr.example.com/dav/' }] };",
        'export const config = parseConfig(file);',
        'export const status = (e: JournalEntry): string => e.status;',
        'export const start: typeof runAgent = runAgent;',
        "import { RelayClient } from 'vfs-relay/client';",
        "import { runAgent as agentOnly, type AgentOptions } from 'vfs-relay/agent';",
        "export const client = new RelayClient({ relay: 'http://127.0.0.1:8787', token: 'node-token' });",
        "export const options: Partial<AgentOptions> = { vfs: '/' };",
        'export const same: typeof runAgent = agentOnly;',
        '',
      ].join('\n'),
    );
    const tsc = join(REPO, 'node_modules/typescript/bin/tsc');
    const args = ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--skipLibCheck'];
    execFileSync(process.execPath, [tsc, ...args, 'check.ts'], { cwd: consumer, stdio: 'pipe' });
  }, 60_000);

  it('has subpath exports; the agent and the client load no AWS SDK, and the package hides its internals', () => {
    const consumer = consumerProject();
    writeFileSync(
      join(consumer, 'agent-only.mjs'),
      "import { runAgent, RelayClient } from 'vfs-relay/agent';\nimport * as client from 'vfs-relay/client';\n" +
        'console.log(JSON.stringify([typeof runAgent, typeof RelayClient, typeof client.RelayClient]));\n',
    );
    expect(execFileSync(process.execPath, ['agent-only.mjs'], { cwd: consumer }).toString().trim()).toBe(
      '["function","function","function"]',
    );
    const loaded = loadedBy(['agent-only.mjs'], consumer);
    expect(loaded.some((m) => m.includes('/dist/agent/index.js'))).toBe(true); // the recording works
    expect(loaded.filter((m) => m.includes('@aws-sdk'))).toEqual([]);
    expect(loaded.filter((m) => m.includes('webdav-server'))).toEqual([]);

    // The recording does see the SDK where it is loaded: the package root's cloud mode is not exported, a deep
    // import is refused, and the schema is reachable by name.
    writeFileSync(join(consumer, 'deep.mjs'), "await import('vfs-relay/dist/runtime/cloud/relay.js');\n");
    expect(() => execFileSync(process.execPath, ['deep.mjs'], { cwd: consumer, stdio: 'pipe' })).toThrow(
      /ERR_PACKAGE_PATH_NOT_EXPORTED/,
    );
    writeFileSync(
      join(consumer, 'schema.mjs'),
      "import { createRequire } from 'node:module';\n" +
        "console.log(createRequire(import.meta.url)('vfs-relay/schema/vfs-relay.config.schema.json').title);\n",
    );
    expect(execFileSync(process.execPath, ['schema.mjs'], { cwd: consumer }).toString().trim()).toBe(
      'vfs-relay configuration',
    );
  }, 60_000);

  it('loads the AWS SDK only for cloud mode: status, journal and config check do not', () => {
    const main = join(checkout, 'dist/cli/main.js');
    const relay = ['--relay', 'http://127.0.0.1:9', '--token', 'x'.repeat(20)];
    for (const args of [
      ['status', ...relay],
      ['journal', 'ls', ...relay],
      ['config', 'check'],
    ]) {
      const loaded = loadedBy([main, ...args], tmp.dir);
      expect(
        loaded.some((m) => m.includes('/dist/cli/commands/')),
        args.join(' '),
      ).toBe(true);
      expect(
        loaded.filter((m) => m.includes('@aws-sdk')),
        args.join(' '),
      ).toEqual([]);
    }
    const cloud = join(tmp.dir, 'cloud.json');
    writeFileSync(
      cloud,
      JSON.stringify({
        journal: 's3://relay-journal/prod',
        queue: 'https://sqs.eu-west-1.amazonaws.com/123456789012/relay.fifo',
        auth: { adminToken: 'admin-token-0123456789' },
      }),
    );
    // Nothing answers at the endpoint: serve stops at its first S3 request, after loading cloud mode.
    const served = loadedBy([main, 'serve', '--config', cloud], tmp.dir, {
      AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
      AWS_MAX_ATTEMPTS: '1',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    });
    expect(served.some((m) => m.includes('@aws-sdk/client-s3'))).toBe(true);
  }, 60_000);

  it("the package's bin is one CommonJS file: light commands load nothing else, the others load their command", () => {
    const { bin, version } = JSON.parse(readFileSync(join(checkout, 'package.json'), 'utf8')) as {
      bin: { 'vfs-relay': string };
      version: string;
    };
    const cli = join(checkout, bin['vfs-relay']);
    expect(cli.endsWith('.cjs')).toBe(true);
    expect(execFileSync(process.execPath, [cli, '--version'], { cwd: tmp.dir }).toString().trim()).toBe(version);

    const relay = ['--relay', 'http://127.0.0.1:9', '--token', 'x'.repeat(20)];
    for (const args of [['status', ...relay], ['journal', 'ls', ...relay], ['--version']]) {
      const loaded = loadedBy([cli, ...args], tmp.dir);
      expect(
        loaded.some((m) => m.endsWith('/dist/cli/vfs-relay.cjs')),
        args.join(' '),
      ).toBe(true); // recorded
      const fromPackage = loaded.filter((m) => m.includes(checkout) && !m.endsWith('/dist/cli/vfs-relay.cjs'));
      expect(fromPackage, args.join(' ')).toEqual([]);
    }
    // A command's own modules load from dist/cli/commands/ when it runs (here: config check, on the defaults).
    const check = loadedBy([cli, 'config', 'check'], tmp.dir);
    expect(check.some((m) => m.includes('/dist/cli/commands/config.js'))).toBe(true);
    expect(execFileSync(process.execPath, [cli, 'config', 'check'], { cwd: tmp.dir }).toString()).toContain('"listen"');
  }, 60_000);

  it("the package's bin reports errors of the commands it loads, and usage errors, in one line", () => {
    const { bin } = JSON.parse(readFileSync(join(checkout, 'package.json'), 'utf8')) as {
      bin: { 'vfs-relay': string };
    };
    const cli = join(checkout, bin['vfs-relay']);
    const run = (args: string[]) =>
      spawnSync(process.execPath, [cli, ...args], { cwd: tmp.dir, encoding: 'utf8', env: { ...process.env, CI: '' } });
    // A command loaded when it runs throws its own module's errors (not the bundle's copy of the classes).
    const missing = run(['config', 'check', '--config', join(tmp.dir, 'no-such-config.json')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^vfs-relay: [^\n]*no-such-config\.json[^\n]*\n$/);
    expect(missing.stderr).not.toMatch(/ConfigError|CliError/);
    for (const args of [['journal'], ['journal', 'frob'], ['frobnicate'], ['jobs', 'show'], ['status', '--bogus']]) {
      const usage = run(args);
      expect(usage.status, args.join(' ')).toBe(2);
      expect(usage.stderr, args.join(' ')).toMatch(/^vfs-relay: [^\n]+\n$/);
    }
  }, 60_000);

  it('ships source maps with their sources (dist/ only, no src/ in the package)', () => {
    const maps = execFileSync('find', ['dist', '-name', '*.js.map'], { cwd: checkout })
      .toString()
      .split('\n')
      .filter(Boolean);
    expect(maps.length).toBeGreaterThan(50);
    for (const map of maps) {
      const { sources, sourcesContent } = JSON.parse(readFileSync(join(checkout, map), 'utf8'));
      expect(sourcesContent?.length, map).toBe(sources.length);
    }
  });
});
