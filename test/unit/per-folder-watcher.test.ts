import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PerFolderWatcher } from '../../src/agent/per-folder-watcher.js';
import type { WatchEvent } from '../../src/agent/rename-detector.js';
import { waitFor } from '../support/node-client.js';
import { tempDir } from '../support/tmp.js';

// The per-folder watcher on a real file system: what it reports for each kind of change (the events chokidar
// reports, which the rename detector is written against).
describe.runIf(process.platform === 'linux')('PerFolderWatcher', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  async function watched(
    prepare: (root: string) => Promise<void> = async () => {},
    more: Partial<Parameters<typeof PerFolderWatcher.start>[0]> = {},
  ) {
    const tmp = await tempDir('vfs-relay-dirwatch-');
    const root = join(tmp.dir, 'w');
    await mkdir(root);
    await prepare(root);
    const events: WatchEvent[] = [];
    const errors: unknown[] = [];
    const watcher = await PerFolderWatcher.start({
      root,
      ignored: (absolute) => absolute.endsWith('.part'),
      onEvent: (event) => events.push(event),
      onError: (error) => errors.push(error),
      rescanDelaysMs: [50, 200],
      ...more,
    });
    cleanups.push(async () => {
      await watcher.close();
      await tmp.remove();
    });
    const seen = (type: WatchEvent['type'], path: string) => events.some((e) => e.type === type && e.path === path);
    const until = (type: WatchEvent['type'], path: string) =>
      waitFor(
        async () => seen(type, path),
        5_000,
        () => `no ${type} ${path} in ${JSON.stringify(events)}`,
      );
    return { root, events, errors, seen, until };
  }

  it('lists what is there at start as initial events, parents before children, skipping ignored names', async () => {
    const { events } = await watched(async (root) => {
      await mkdir(join(root, 'a/b'), { recursive: true });
      await writeFile(join(root, 'a/b/x.txt'), 'x');
      await writeFile(join(root, 'top.txt'), 't');
      await writeFile(join(root, 'skip.part'), 'p');
      await symlink(join(root, 'top.txt'), join(root, 'link'));
    });
    expect(events.every((e) => e.initial === true)).toBe(true);
    const order = events.map((e) => `${e.type} ${e.path}`);
    expect([...order].sort()).toEqual(['add a/b/x.txt', 'add top.txt', 'addDir a', 'addDir a/b']);
    expect(order.indexOf('addDir a')).toBeLessThan(order.indexOf('addDir a/b'));
    expect(order.indexOf('addDir a/b')).toBeLessThan(order.indexOf('add a/b/x.txt'));
  });

  it('a volume unmounted inside the folder is not reported removed', async (ctx) => {
    let mounted: string | undefined;
    cleanups.unshift(async () => {
      if (mounted) execFileSync('umount', ['-l', mounted], { stdio: 'ignore' });
    });
    let cannot: string | undefined;
    const { root, events, errors, until } = await watched(async (root) => {
      const vol = join(root, 'vol');
      await mkdir(vol);
      await writeFile(join(vol, 'under.txt'), 'on the folder under the mount point');
      try {
        execFileSync('mount', ['-t', 'tmpfs', 'none', vol], { stdio: 'pipe' });
        mounted = vol;
      } catch (error) {
        cannot = (error as Error).message;
        return;
      }
      await writeFile(join(vol, 'precious.bin'), 'on the volume');
    });
    if (cannot !== undefined) {
      if (process.env.CI === 'true') throw new Error(`cannot mount a tmpfs: ${cannot}`);
      console.warn(`\n*** SKIPPING the unmount test: cannot mount a tmpfs here (${cannot}) ***\n`);
      ctx.skip();
    }
    expect(events.map((e) => `${e.type} ${e.path}`)).toContain('add vol/precious.bin');
    execFileSync('umount', [mounted!]); // an NFS or iSCSI volume dropping, or maintenance
    mounted = undefined;
    await until('add', 'vol/under.txt'); // the folder under the mount point, listed as it is now
    await writeFile(join(root, 'after.txt'), 'a');
    await until('add', 'after.txt');
    expect(events.filter((e) => e.type === 'unlink' || e.type === 'unlinkDir')).toEqual([]);
    expect(errors.map(String).join('\n')).toMatch(/vol: another file system is there now/);
  });

  it('tells about a name that is not UTF-8 once (it cannot be sent), and goes on with the rest', async () => {
    const { root, errors, until } = await watched();
    // Latin-1 "café.txt": the é is one byte, 0xE9, which is not UTF-8.
    const raw = Buffer.concat([Buffer.from(`${root}/caf`), Buffer.from([0xe9]), Buffer.from('.txt')]);
    writeFileSync(raw, 'latin-1');
    await writeFile(join(root, 'marker.txt'), 'm');
    await until('add', 'marker.txt');
    await waitFor(async () => errors.length > 0, 5_000);
    expect(String(errors[0])).toMatch(/caf\uFFFD\.txt: the name is not valid UTF-8/);
    writeFileSync(raw, 'latin-1, again');
    await writeFile(join(root, 'marker2.txt'), 'm');
    await until('add', 'marker2.txt');
    expect(errors).toHaveLength(1);
  });

  it('reports a new file, its changes, and its removal', async () => {
    const { root, events, until } = await watched();
    await writeFile(join(root, 'f.txt'), 'one');
    await until('add', 'f.txt');
    await writeFile(join(root, 'f.txt'), 'two');
    await until('change', 'f.txt');
    await rm(join(root, 'f.txt'));
    await until('unlink', 'f.txt');
    expect(events.filter((e) => e.type === 'add')).toHaveLength(1);
    expect(events.some((e) => e.initial)).toBe(false);
  });

  it('passes on a file written in many pieces as a few changes, not one per write', async () => {
    const { root, events, until } = await watched();
    await writeFile(join(root, 'big.bin'), '');
    await until('add', 'big.bin');
    const { open } = await import('node:fs/promises');
    const handle = await open(join(root, 'big.bin'), 'a');
    for (let i = 0; i < 200; i++) await handle.write(Buffer.alloc(4096, i));
    await handle.close();
    await until('change', 'big.bin');
    await new Promise((r) => setTimeout(r, 250)); // the last change held back comes out
    const changes = events.filter((e) => e.type === 'change').length;
    expect(changes).toBeGreaterThanOrEqual(1);
    expect(changes).toBeLessThan(50);
  });

  it('finds what was made inside a new folder before the folder was watched', async () => {
    const { root, until } = await watched();
    await mkdir(join(root, 'n/deep/er'), { recursive: true });
    await writeFile(join(root, 'n/deep/er/file.txt'), 'quick');
    await until('add', 'n/deep/er/file.txt');
    await until('addDir', 'n/deep');
    // And the nested folder is watched from then on.
    await writeFile(join(root, 'n/deep/er/later.txt'), 'later');
    await until('add', 'n/deep/er/later.txt');
  });

  it('reports a folder moved away as its contents then itself, and its new name with contents', async () => {
    const { root, events, until } = await watched(async (r) => {
      await mkdir(join(r, 'old/sub'), { recursive: true });
      await writeFile(join(r, 'old/sub/x.txt'), 'x');
    });
    events.length = 0;
    await rename(join(root, 'old'), join(root, 'new'));
    await until('unlinkDir', 'old');
    await until('add', 'new/sub/x.txt');
    const removal = events.filter((e) => e.type.startsWith('unlink')).map((e) => `${e.type} ${e.path}`);
    expect(removal).toEqual(['unlink old/sub/x.txt', 'unlinkDir old/sub', 'unlinkDir old']);
    // Watched under its new name.
    await writeFile(join(root, 'new/sub/y.txt'), 'y');
    await until('add', 'new/sub/y.txt');
  });

  it('tells a folder removed and made again under the same name (ext4 reuses the inode) from the old one', async () => {
    const { root, until, seen, events } = await watched(async (r) => {
      await mkdir(join(r, 'd'));
      await writeFile(join(r, 'd/old.txt'), 'o');
    });
    events.length = 0; // the initial listing
    // In one go, as `rm -rf d && mkdir d` does: the watcher sees both events together.
    rmSync(join(root, 'd'), { recursive: true });
    mkdirSync(join(root, 'd'));
    await until('addDir', 'd');
    expect(seen('unlink', 'd/old.txt')).toBe(true);
    expect(seen('unlinkDir', 'd')).toBe(true);
    // The new folder is watched.
    await writeFile(join(root, 'd/inside.txt'), 'i');
    await until('add', 'd/inside.txt');
  });

  it('finds what the kernel dropped when its event queue overflowed, by listing busy folders again', async () => {
    const { root, events } = await watched(async (r) => {
      await mkdir(join(r, 'flood'));
    });
    // More files than inotify queues events for (fs.inotify.max_queued_events), while the event loop is blocked.
    const limit = Number(readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8'));
    const count = limit + 500;
    for (let i = 0; i < count; i++) writeFileSync(join(root, 'flood', `f${i}`), '');
    const adds = () => events.filter((e) => e.type === 'add').length;
    await waitFor(
      async () => adds() >= count,
      15_000,
      () => `${adds()} of ${count} files reported`,
    );
    expect(new Set(events.filter((e) => e.type === 'add').map((e) => e.path)).size).toBe(count);
  }, 30_000);

  // Listing again by name and kind missed what changed under a name it knew: a file rewritten in place, or another
  // one renamed over it. And a quiet folder whose events went in the overflow is never listed again without a full
  // rescan.
  it('after an overflow, finds files rewritten in place or renamed over, in busy and in quiet folders', async () => {
    const { root, events, seen } = await watched(
      async (r) => {
        await mkdir(join(r, 'flood'));
        await mkdir(join(r, 'quiet'));
        await mkdir(join(r, 'other'));
        await writeFile(join(r, 'flood/a.txt'), 'one');
        await writeFile(join(r, 'flood/b.txt'), 'two');
        await writeFile(join(r, 'quiet/q.txt'), 'three');
        await writeFile(join(r, 'other/b.new'), 'renamed over b.txt');
      },
      { fullRescanMs: 500 },
    );
    const limit = Number(readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8'));
    // The event loop is blocked from here on: the queue overflows, and what follows is dropped by the kernel.
    for (let i = 0; i < limit + 500; i++) writeFileSync(join(root, 'flood', `f${i}`), '');
    writeFileSync(join(root, 'flood/a.txt'), 'one, rewritten in place');
    renameSync(join(root, 'other/b.new'), join(root, 'flood/b.txt'));
    writeFileSync(join(root, 'quiet/q.txt'), 'three, rewritten in a folder that had no event after the overflow');
    const until = (type: WatchEvent['type'], path: string) =>
      waitFor(
        async () => seen(type, path),
        10_000,
        () => `no ${type} ${path} in ${JSON.stringify(events.filter((e) => !e.path.startsWith('flood/f')))}`,
      );
    await until('change', 'flood/a.txt');
    await until('change', 'flood/b.txt');
    await until('change', 'quiet/q.txt');
    expect(events.filter((e) => e.type === 'unlink').map((e) => e.path)).toEqual(['other/b.new']);
  }, 30_000);

  it('stops and says so when the watched folder itself is moved away', async () => {
    const tmp = await tempDir('vfs-relay-dirwatch-');
    const root = join(tmp.dir, 'w');
    await mkdir(root);
    const gone: Error[] = [];
    const events: WatchEvent[] = [];
    const watcher = await PerFolderWatcher.start({
      root,
      ignored: () => false,
      onEvent: (event) => events.push(event),
      onError: () => {},
      onRootGone: (error) => gone.push(error),
    });
    cleanups.push(async () => {
      await watcher.close();
      await tmp.remove();
    });
    await rename(root, join(tmp.dir, 'moved'));
    await mkdir(root);
    await waitFor(
      async () => gone.length > 0,
      5_000,
      () => 'onRootGone was not called',
    );
    expect(gone[0]!.message).toMatch(/was removed, moved or replaced/);
    await writeFile(join(tmp.dir, 'moved', 'late.txt'), 'not under the watched path any more');
    await new Promise((r) => setTimeout(r, 200));
    expect(events).toEqual([]);
  });

  it('reports a file replaced by a folder of the same name', async () => {
    const { root, until } = await watched(async (r) => {
      await writeFile(join(r, 'x'), 'file');
    });
    await rm(join(root, 'x'));
    await mkdir(join(root, 'x'));
    await until('addDir', 'x');
    await until('unlink', 'x');
  });
});
