import { mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { ChokidarWatcher } from '../../src/agent/chokidar-watcher.js';
import type { WatchEvent } from '../../src/agent/rename-detector.js';
import { waitFor } from '../support/node-client.js';
import { tempDir } from '../support/tmp.js';

// chokidar (`--watcher chokidar`, the default off Linux) tells a folder's names apart by name only: a name that
// comes to hold another object raises no event, or the wrong one. The watcher keeps what each name held and lists
// the tree again every fullRescanMs.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function watched(prepare: (root: string) => Promise<void>) {
  const tmp = await tempDir('vfs-relay-chokidar-');
  const root = join(tmp.dir, 'w');
  await mkdir(root);
  await prepare(root);
  const events: string[] = [];
  const watcher = await ChokidarWatcher.start({
    root,
    ignored: () => false,
    onEvent: (event: WatchEvent) => events.push(`${event.type} ${event.path}`),
    onError: () => {},
    rescanDelaysMs: [50, 200],
    fullRescanMs: 100,
  });
  cleanups.push(async () => {
    await watcher.close();
    await tmp.remove();
  });
  /** Waits until every one of `wanted` was reported after `from` (an index into events). */
  const until = (from: number, ...wanted: string[]) =>
    waitFor(
      async () => wanted.every((w) => events.slice(from).includes(w)),
      10_000,
      () => `wanted ${JSON.stringify(wanted)} in ${JSON.stringify(events.slice(from))}`,
    );
  return { root, events, until };
}

it('reports both names of a swap through a temporary name as holding something new', async () => {
  const { root, events } = await watched(async (root) => {
    await writeFile(join(root, 'a'), 'A');
    await writeFile(join(root, 'b'), 'BB');
  });
  const from = events.length;
  await rename(join(root, 'a'), join(root, 't'));
  await rename(join(root, 'b'), join(root, 'a'));
  await rename(join(root, 't'), join(root, 'b'));
  // chokidar may report the swap (removed and added) or, relisting by name only, nothing: then the full rescan
  // finds another file under each name. Either way each name ends with something there.
  const last = (name: string) =>
    events
      .slice(from)
      .filter((e) => e.endsWith(` ${name}`))
      .at(-1);
  await waitFor(
    async () => ['a', 'b'].every((name) => /^(add|change) /.test(last(name) ?? '')),
    10_000,
    () => JSON.stringify(events.slice(from)),
  );
});

it('reports a file replaced by a folder as the file removed, then the folder and what it holds', async () => {
  const { root, events, until } = await watched(async (root) => {
    await writeFile(join(root, 'x'), 'xxxx');
  });
  const from = events.length;
  await rm(join(root, 'x'));
  await mkdir(join(root, 'x'));
  await writeFile(join(root, 'x', 'child'), 'c');
  await until(from, 'unlink x', 'addDir x', 'add x/child');
  const after = events.slice(from);
  expect(after.indexOf('unlink x')).toBeLessThan(after.indexOf('addDir x'));
});

it('reports a file that took the place of a symbolic link', async () => {
  const { root, events, until } = await watched(async (root) => {
    await writeFile(join(root, 'target'), 't');
    await symlink(join(root, 'target'), join(root, 'link'));
  });
  const from = events.length;
  await rm(join(root, 'link'));
  await writeFile(join(root, 'link'), 'now a file');
  await until(from, 'add link');
});
