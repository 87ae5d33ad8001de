import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
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

describe('npm start (vfs-relay demo) from a fresh checkout', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let child: ChildProcess | undefined;
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
    tmp = await tempDir('vfs-relay-demo-');
    const checkout = join(tmp.dir, 'vfs-relay');
    freshCheckout(checkout);
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: checkout, stdio: 'ignore' });

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
});
