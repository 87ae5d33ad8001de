import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it, vi } from 'vitest';
import type { WatchEvent } from '../../src/agent/rename-detector.js';
import { tempDir } from '../support/tmp.js';

// The chokidar watcher's full rescan lists one folder at a time: what happens meanwhile, and a folder it cannot
// list, must not be reported removed (the peers would delete it).

// Hook into readdir as the full rescan (and chokidar) call it; inactive until a test arms it.
const hook: { dir?: string; action?: () => Promise<void> } = {};
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...real,
    readdir: async (...args: Parameters<typeof real.readdir>) => {
      if (hook.dir && args[0] === hook.dir && hook.action) {
        const action = hook.action;
        hook.action = undefined;
        await action();
      }
      return (real.readdir as (...a: unknown[]) => unknown)(...args);
    },
  };
});

const { ChokidarWatcher } = await import('../../src/agent/chokidar-watcher.js');

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  hook.dir = undefined;
  hook.action = undefined;
});

async function watched(root: string, events: string[]) {
  const watcher = await ChokidarWatcher.start({
    root,
    ignored: () => false,
    onEvent: (event: WatchEvent) => events.push(`${event.type} ${event.path}`),
    onError: () => {},
    rescanDelaysMs: [50, 200],
    fullRescanMs: 300,
  });
  cleanups.push(() => watcher.close());
  return watcher;
}

it('a file created while a full rescan runs is not reported removed', async () => {
  const tmp = await tempDir('vfs-relay-chokidar-');
  cleanups.push(tmp.remove);
  const root = join(tmp.dir, 'w');
  await mkdir(join(root, 'deep'), { recursive: true });
  const events: string[] = [];
  await watched(root, events);
  let rescanning = false;
  hook.dir = join(root, 'deep');
  hook.action = async () => {
    // The rescan listed the root already; a user creates a file there now, chokidar reports it meanwhile.
    rescanning = true;
    await writeFile(join(root, 'new.txt'), 'fresh');
    await new Promise((r) => setTimeout(r, 1_000));
  };
  await vi.waitFor(() => expect(rescanning).toBe(true), { timeout: 5_000 });
  await vi.waitFor(() => expect(events).toContain('add new.txt'), { timeout: 5_000 });
  await new Promise((r) => setTimeout(r, 1_500)); // the rescan completes
  expect(events).not.toContain('unlink new.txt'); // the file is there all along
});

it('a folder the full rescan cannot list (EMFILE, EACCES) is not reported emptied', async () => {
  const tmp = await tempDir('vfs-relay-chokidar-');
  cleanups.push(tmp.remove);
  const root = join(tmp.dir, 'w');
  await mkdir(join(root, 'deep'), { recursive: true });
  await writeFile(join(root, 'deep', 'keep.txt'), 'k');
  const events: string[] = [];
  await watched(root, events);
  let failed = false;
  hook.dir = join(root, 'deep');
  hook.action = async () => {
    failed = true;
    throw Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' });
  };
  await vi.waitFor(() => expect(failed).toBe(true), { timeout: 5_000 });
  await new Promise((r) => setTimeout(r, 500));
  expect(events).not.toContain('unlink deep/keep.txt');
});
