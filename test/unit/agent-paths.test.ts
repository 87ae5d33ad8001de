import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolvePlace } from '../../src/agent/agent-config.js';
import { AgentConfigError } from '../../src/agent/errors.js';
import { globToRegExp, ignoreMatcher, vfsBase } from '../../src/agent/paths.js';
import { defaultStateDir, legacyOutboxDir } from '../../src/agent/state-dir.js';
import { tempDir } from '../support/tmp.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('paths', () => {
  it('normalises the VFS base with a trailing slash and refuses bad ones', () => {
    expect(vfsBase('/user_homes/john')).toBe('/user_homes/john/');
    expect(vfsBase('/user_homes/john/')).toBe('/user_homes/john/');
    expect(vfsBase('/')).toBe('/');
    expect(() => vfsBase('user_homes')).toThrow(/absolute/);
    expect(() => vfsBase('/a/../b')).toThrow(/\.\./);
  });

  it('matches ignore patterns against names, or against the path when they hold a slash', () => {
    const ignored = ignoreMatcher(['*.part', '~*', '.#*', 'build/**', 'cache']);
    expect(ignored('a/b/movie.mkv.part')).toBe(true);
    expect(ignored('~$report.docx')).toBe(true);
    expect(ignored('x/.#notes.txt')).toBe(true);
    expect(ignored('build/out/x.o')).toBe(true);
    expect(ignored('src/build/x.o')).toBe(false);
    expect(ignored('cache/deep/file')).toBe(true);
    expect(ignored('a/movie.partial')).toBe(false);
    expect(ignored('')).toBe(false);
    expect(globToRegExp('f?le[0-9].[!t]xt').test('file1.bxt')).toBe(true);
    expect(globToRegExp('f?le[0-9].[!t]xt').test('file1.txt')).toBe(false);
    expect(globToRegExp('a+b(c).{d}]').test('a+b(c).{d}]')).toBe(true);
  });
});

describe('agent places', () => {
  async function watched(): Promise<string> {
    const tmp = await tempDir('vfs-relay-place-');
    cleanups.push(tmp.remove);
    const dir = join(tmp.dir, 'files');
    await mkdir(dir);
    return dir;
  }
  const base = { relay: 'http://127.0.0.1:8787', token: 't', vfs: '/user_homes/john' };

  it('keeps its state in the default state folder, looks for an older outbox beside the watched folder, and ignores a state folder inside it', async () => {
    const watch = await watched();
    const place = await resolvePlace({ ...base, watch });
    expect(place.vfs).toBe('/user_homes/john/');
    expect(place.stateDir).toBe(await defaultStateDir(watch));
    expect(place.stateDir.startsWith(join(watch, '..'))).toBe(false);
    expect(place.legacyStateDirs).toEqual([legacyOutboxDir(watch, '/user_homes/john/')]);
    expect(place.ignored(join(watch, 'a.txt'))).toBe(false);
    expect(place.ignored(join(watch, 'a.txt.part'))).toBe(true);
    const inside = await resolvePlace({ ...base, watch, state: join(watch, '.state'), ignore: ['*.log'] });
    expect(inside.ignored(join(watch, '.state'))).toBe(true);
    expect(inside.ignored(join(watch, '.state', 'outbox.log'))).toBe(true);
    // --outbox is the older name of --state.
    expect((await resolvePlace({ ...base, watch, outbox: join(watch, '..', 'o') })).stateDir).toBe(
      join(watch, '..', 'o'),
    );
    expect(inside.ignored(join(watch, 'x', 'y.log'))).toBe(true);
    const bare = await resolvePlace({ ...base, watch, defaultIgnore: false });
    expect(bare.ignored(join(watch, 'a.txt.part'))).toBe(false);
  });

  it('refuses what cannot work, naming the option', async () => {
    const watch = await watched();
    const refuse = (options: Partial<Parameters<typeof resolvePlace>[0]>) =>
      expect(resolvePlace({ ...base, watch, ...options })).rejects.toBeInstanceOf(AgentConfigError);
    await refuse({ watch: join(watch, 'missing') });
    await refuse({ state: join(watch, '..') });
    await refuse({ state: watch });
    await refuse({ outbox: watch });
    await refuse({ relay: 'ftp://relay' });
    await refuse({ relay: 'not a url' });
    await refuse({ token: '' });
    await refuse({ vfs: 'relative/path' });
  });
});
