import { platform } from 'node:os';
import { describe, expect, it } from 'vitest';
import { syncFileSystem } from '../../src/adapters/fs-journal/syncfs.js';
import { tempDir } from '../support/tmp.js';

describe('syncFileSystem', () => {
  it('syncs the file system of an existing folder on Linux, and says so', async () => {
    const tmp = await tempDir();
    try {
      expect(await syncFileSystem(tmp.dir)).toBe(platform() === 'linux');
    } finally {
      await tmp.remove();
    }
  });

  it('answers false (the caller falls back to fsyncs) for a path that does not exist', async () => {
    expect(await syncFileSystem('/no/such/folder/for/vfs-relay')).toBe(false);
  });
});
