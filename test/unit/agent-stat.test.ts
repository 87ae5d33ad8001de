import { mkdir, rename, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { sameIdentity } from '../../src/agent/file-index.js';
import { statRelative } from '../../src/agent/watcher.js';
import { tempDir } from '../support/tmp.js';

// ext4 gives a removed folder's inode to the next folder made, often at once: the agent's stat must still tell
// the two apart, or `rmdir a; mkdir b` while the agent is stopped would be replayed as a move of `a`.
it('tells a folder made in a just-removed folder’s inode from the removed one', async () => {
  const tmp = await tempDir('vfs-relay-stat-');
  try {
    let reused = false;
    for (let attempt = 0; attempt < 20 && !reused; attempt++) {
      await mkdir(join(tmp.dir, 'a'));
      const removed = (await statRelative(tmp.dir, 'a'))!;
      await rmdir(join(tmp.dir, 'a'));
      await mkdir(join(tmp.dir, 'b'));
      const made = (await statRelative(tmp.dir, 'b'))!;
      await rmdir(join(tmp.dir, 'b'));
      expect(made.kind).toBe('dir');
      expect(sameIdentity(removed, made)).toBe(false);
      reused = made.ino === removed.ino;
    }
    if (!reused) console.warn('the file system here did not reuse a folder inode: only the plain case was checked');
    // The same folder is still the same one, under another name too.
    await mkdir(join(tmp.dir, 'c'));
    const before = (await statRelative(tmp.dir, 'c'))!;
    await rename(join(tmp.dir, 'c'), join(tmp.dir, 'd'));
    expect(sameIdentity(before, (await statRelative(tmp.dir, 'd'))!)).toBe(true);
  } finally {
    await tmp.remove();
  }
});
