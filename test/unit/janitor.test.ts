import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FolderJanitor } from '../../src/adapters/fs-journal/janitor.js';
import { tempDir } from '../support/tmp.js';

describe('FolderJanitor', () => {
  const closing: FolderJanitor[] = [];
  const temps: { remove: () => Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(closing.splice(0).map((j) => j.close()));
    await Promise.all(temps.splice(0).map((t) => t.remove()));
  });

  async function folder(): Promise<string> {
    const tmp = await tempDir('vfs-relay-janitor-');
    temps.push(tmp);
    return tmp.dir;
  }

  async function entryFolder(root: string, name: string, extra: string[] = []): Promise<string> {
    const dir = join(root, name);
    await mkdir(dir, { recursive: true });
    for (const file of ['config.XML', 'upload', ...extra]) await writeFile(join(dir, file), file);
    return dir;
  }

  it('removes many folders asked for at once, and a missing folder is not an error', async () => {
    const root = await folder();
    const janitor = new FolderJanitor(['config.XML', 'upload']);
    closing.push(janitor);
    const dirs = await Promise.all(Array.from({ length: 50 }, (_, i) => entryFolder(root, `e${i}`)));
    await Promise.all([...dirs.map((d) => janitor.remove(d)), janitor.remove(join(root, 'never-there'))]);
    for (const dir of dirs) expect(existsSync(dir)).toBe(false);
  });

  it('removes the leftovers of an interrupted write with the folder', async () => {
    const root = await folder();
    const janitor = new FolderJanitor(['config.XML', 'upload']);
    closing.push(janitor);
    const dir = await entryFolder(root, 'e', ['config.XML.tmp-1-abc']);
    await janitor.remove(dir);
    expect(existsSync(dir)).toBe(false);
  });

  it('reports a folder it cannot remove, and keeps working for the others', async () => {
    const root = await folder();
    const janitor = new FolderJanitor(['config.XML', 'upload']);
    closing.push(janitor);
    const file = join(root, 'a-file');
    await writeFile(file, 'not a folder');
    const ok = await entryFolder(root, 'ok');
    const results = await Promise.allSettled([janitor.remove(join(file, 'below')), janitor.remove(ok)]);
    expect(results[0]).toMatchObject({ status: 'rejected', reason: { message: expect.stringMatching(/ENOTDIR/) } });
    expect(results[1].status).toBe('fulfilled');
    expect(existsSync(ok)).toBe(false);
  });

  it('finishes what was asked before close, then refuses more', async () => {
    const root = await folder();
    const janitor = new FolderJanitor(['config.XML', 'upload']);
    const dirs = await Promise.all(Array.from({ length: 20 }, (_, i) => entryFolder(root, `e${i}`)));
    const removals = dirs.map((d) => janitor.remove(d));
    await janitor.close();
    await Promise.all(removals);
    for (const dir of dirs) expect(existsSync(dir)).toBe(false);
    await expect(janitor.remove(join(root, 'later'))).rejects.toThrow(/closed/);
  });
});
