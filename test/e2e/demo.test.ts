import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
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

  it('is importable by name, as README shows: JavaScript gets the functions, TypeScript the types', () => {
    // A project that depends on vfs-relay: node_modules/vfs-relay is the built checkout.
    const consumer = join(tmp.dir, 'consumer');
    mkdirSync(join(consumer, 'node_modules'), { recursive: true });
    symlinkSync(checkout, join(consumer, 'node_modules/vfs-relay'));
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
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
        '',
      ].join('\n'),
    );
    const tsc = join(REPO, 'node_modules/typescript/bin/tsc');
    const args = ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--skipLibCheck'];
    execFileSync(process.execPath, [tsc, ...args, 'check.ts'], { cwd: consumer, stdio: 'pipe' });
  }, 60_000);
});
