import { readdirSync } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { birthTimesAreReal } from '../../src/agent/birth-time.js';
import { PerFolderWatcher } from '../../src/agent/per-folder-watcher.js';
import type { WatchEvent } from '../../src/agent/rename-detector.js';
import { tempDir } from '../support/tmp.js';

// A host without statx (Linux < 4.11, or a seccomp profile that blocks it): Node reports the change time as the
// birth time. Simulated by wrapping lstatSync; everything else is the real file system.
const noStatx = vi.hoisted(() => ({ on: false }));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const lstatSync = ((path: string, options?: { bigint?: boolean; throwIfNoEntry?: boolean }) => {
    const s = fs.lstatSync(path, options as never) as unknown as Record<string, unknown> | undefined;
    if (!noStatx.on || !s) return s;
    return Object.assign(Object.create(Object.getPrototypeOf(s)), s, {
      birthtimeNs: s.ctimeNs,
      birthtimeMs: s.ctimeMs,
    });
  }) as typeof fs.lstatSync;
  return { ...fs, default: { ...fs, lstatSync }, lstatSync };
});

describe('birth times', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    noStatx.on = false;
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  async function tmp() {
    const t = await tempDir('vfs-relay-birth-');
    cleanups.push(() => t.remove());
    return t.dir;
  }

  it('are found real here, and found not real where the birth time is the change time; the probe leaves nothing', async () => {
    const dir = await tmp();
    expect(birthTimesAreReal(dir)).toBe(true);
    noStatx.on = true;
    expect(birthTimesAreReal(dir)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });

  it.runIf(process.platform === 'linux')(
    'without them, the folder watcher does not take a chmod of a folder for a new folder (which would delete it on the peer)',
    async () => {
      noStatx.on = true;
      const dir = await tmp();
      await mkdir(join(dir, 'a'));
      const run = async (birthTimes: boolean) => {
        const events: WatchEvent[] = [];
        const watcher = await PerFolderWatcher.start({
          root: dir,
          ignored: () => false,
          onEvent: (event) => events.push(event),
          onError: (error) => {
            throw error;
          },
          birthTimes,
        });
        await new Promise((r) => setTimeout(r, 20)); // a kernel tick: the change time moves on
        await chmod(join(dir, 'a'), birthTimes ? 0o750 : 0o755);
        // A barrier, not a pause: the watcher handles a folder's events in the order the kernel sends them, so
        // once the marker made after the chmod is reported, whatever the chmod caused has been reported too.
        const marker = `marker-${birthTimes}`;
        await mkdir(join(dir, marker));
        await vi.waitFor(() => expect(events.map((e) => e.path)).toContain(marker), { timeout: 10_000, interval: 10 });
        await watcher.close();
        return events.filter((e) => !e.initial && e.path !== marker).map((e) => `${e.type} ${e.path}`);
      };
      // What the probe guards against: trusting such birth times reports the folder removed and made again.
      expect(await run(true)).toEqual(['unlinkDir a', 'addDir a']);
      expect(await run(false)).toEqual([]);
    },
  );
});
