import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh temporary folder, and a function that removes it. */
export async function tempDir(prefix = 'vfs-relay-test-'): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Snapshot of a journal's `multi_journal/` tree: relative path → size (folders end with "/"). Detects any change
 * to the journal. `.purge-<id>` folders are skipped: an entry renamed to one is gone, and the relay deletes the
 * folder in the background whenever it gets to it.
 */
export async function treeSnapshot(root: string): Promise<Record<string, number>> {
  const { readdir, stat } = await import('node:fs/promises');
  const out: Record<string, number> = {};
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      if (name.startsWith('.purge-')) continue;
      const full = join(dir, name);
      const info = await stat(full);
      if (info.isDirectory()) {
        out[`${rel}${name}/`] = 0;
        await walk(full, `${rel}${name}/`);
      } else out[`${rel}${name}`] = info.size;
    }
  };
  // Only the journal itself: the write-ahead log, lock and token files beside it change on their own.
  out['multi_journal/'] = 0;
  await walk(join(root, 'multi_journal'), 'multi_journal/');
  return out;
}

/**
 * The prototype of Node's FileHandle (the class is internal: reached through a handle opened and closed in `dir`),
 * so that a test can spy on every handle's `sync`.
 */
export async function fileHandlePrototype(dir: string): Promise<{ sync: () => Promise<void> }> {
  const probe = await open(join(dir, '.file-handle-probe'), 'w');
  await probe.close();
  await rm(join(dir, '.file-handle-probe'));
  return Object.getPrototypeOf(probe) as { sync: () => Promise<void> };
}
