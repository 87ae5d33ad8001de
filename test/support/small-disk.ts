import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';

/**
 * A small tmpfs of `size` (e.g. `1m`) mounted for the suite, to meet a real ENOSPC: `dir` is its mount point.
 * Mounting needs root: `mounted(ctx, what)` fails the test under CI=true when the mount failed, and skips it
 * loudly elsewhere. `fill(free)` fills the disk, then frees `free` bytes.
 */
export function smallDisk(size: string) {
  const dir = mkdtempSync(join(tmpdir(), 'vfs-relay-small-disk-'));
  let cannot: string | undefined;
  beforeAll(() => {
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
    } catch (error) {
      cannot = String((error as { stderr?: Buffer }).stderr ?? error).trim();
    }
  });
  afterAll(() => {
    if (!cannot) execFileSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    dir,
    mounted(ctx: { skip: () => void }, what: string): void {
      if (!cannot) return;
      if (process.env.CI === 'true') throw new Error(`cannot mount a tmpfs: ${cannot}`);
      console.warn(`\n*** SKIPPING ${what}: cannot mount a tmpfs here (${cannot}) ***\n`);
      ctx.skip();
    },
    fill(free: number): void {
      const filler = join(dir, 'filler');
      const chunk = Buffer.alloc(4096, 7);
      try {
        for (;;) writeFileSync(filler, chunk, { flag: 'a' });
      } catch {
        // ENOSPC: full
      }
      const filled = readFileSync(filler).length;
      writeFileSync(filler, Buffer.alloc(Math.max(0, filled - free), 7));
    },
  };
}
