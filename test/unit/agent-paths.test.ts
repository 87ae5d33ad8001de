import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolvePlace } from '../../src/agent/agent-config.js';
import { AgentConfigError } from '../../src/agent/errors.js';
import { DEFAULT_IGNORE, ignoreMatcher, vfsBase } from '../../src/agent/paths.js';
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
  });
});

// What users of .gitignore and rsync --exclude expect of the same pattern: `git check-ignore` answers every case
// here the same way, braces aside (neither gitignore nor rsync expands them; shells and picomatch do).
describe('ignore patterns, as gitignore and rsync read them', () => {
  const cases: [pattern: string, ignored: string[], kept: string[]][] = [
    // `**` between slashes: any number of folders, none included; anchored at the watched folder.
    [
      'cache/**/tmp',
      ['cache/tmp', 'cache/a/tmp', 'cache/a/b/tmp', 'cache/a/tmp/x.bin'],
      ['x/cache/tmp', 'cache/tmpx', 'cache/a/tmpx'],
    ],
    // Braces, and a name pattern at any depth.
    ['*.{bak,old}', ['a.bak', 'd/e/f.old', 'old.bak'], ['a.bak2', 'a.new', 'bak']],
    // Single-name wildcards stay within a name; dotfiles are names like any other.
    ['*.tmp', ['.hidden.tmp', 'a/b/c.tmp'], ['a.tmp-b', 'tmp']],
    ['logs/*.gz', ['logs/a.gz'], ['logs/old/a.gz', 'x/logs/a.gz']],
    ['logs/**/*.gz', ['logs/a.gz', 'logs/old/a.gz'], ['x/logs/a.gz']],
    ['**/node_modules', ['node_modules', 'a/node_modules/x.js'], ['node_modules2']],
    // A leading slash anchors a single name at the top.
    ['/build', ['build', 'build/x'], ['src/build', 'src/build/x']],
    // A trailing slash names a folder (and what it holds).
    ['tmp/', ['tmp', 'tmp/a', 'x/tmp/a'], ['tmpfile', 'x/tmp2']],
    // Character classes and `?`.
    ['f?le[0-9].[!t]xt', ['file1.bxt', 'd/fXle0.axt'], ['file1.txt', 'file.bxt', 'd/fi/le1.bxt']],
    // Escapes: a literal star, a literal `!`, a literal `#`, a literal brace.
    ['\\*.txt', ['*.txt', 'd/*.txt'], ['a.txt']],
    ['\\!important', ['!important'], ['important']],
    ['\\#notes', ['#notes'], ['notes']],
    ['\\{a,b\\}', ['{a,b}'], ['a', 'b']],
  ];
  it.each(cases)('%s', (pattern, ignored, kept) => {
    const matches = ignoreMatcher([pattern]);
    for (const path of ignored) expect(matches(path), `${pattern} should ignore ${path}`).toBe(true);
    for (const path of kept) expect(matches(path), `${pattern} should keep ${path}`).toBe(false);
  });

  it('takes an ignored path back with !pattern (the last match decides), but not below an ignored folder', () => {
    const matches = ignoreMatcher(['*.log', '!keep.log', 'secret/', '!secret/ok.txt', 'out/*', '!out/keep']);
    expect(matches('a.log')).toBe(true);
    expect(matches('keep.log')).toBe(false);
    expect(matches('d/keep.log')).toBe(false);
    expect(matches('secret/ok.txt')).toBe(true); // its folder is ignored: gitignore cannot re-include it either
    expect(matches('out/x')).toBe(true);
    expect(matches('out/keep')).toBe(false);
    expect(matches('out/keep/deep.txt')).toBe(false);
    expect(ignoreMatcher(['!a', 'a'])('a')).toBe(true); // order matters
  });

  it('ignores nothing for blank patterns, and keeps an escaped trailing blank', () => {
    expect(ignoreMatcher(['', '   ', '/'])('a')).toBe(false);
    expect(ignoreMatcher(['name\\ '])('name ')).toBe(true);
    expect(ignoreMatcher(['name\\ '])('name')).toBe(false);
    expect(ignoreMatcher(['  a.txt  '])('a.txt')).toBe(true);
  });

  it('ignores the default partial, temporary and metadata names at any depth, and nothing else', () => {
    const matches = ignoreMatcher(DEFAULT_IGNORE);
    for (const path of [
      'a/movie.part',
      'x.tmp',
      '~$doc.docx',
      'd/.#file',
      '.file.swp',
      'f.crdownload',
      '.~lock.a#',
      'd/.DAV/props',
      '.DS_Store',
      'd/.davfs.tmp3d5939',
    ]) {
      expect(matches(path), path).toBe(true);
    }
    for (const path of ['report.pdf', 'a/parts/b.txt', 'template', 'd/DAV', 'd/davfs.tmp1'])
      expect(matches(path), path).toBe(false);
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

  it('never reports what would land at or below /.vfs-relay/ (the relay refuses it: RESERVED_PATH)', async () => {
    const watch = await watched();
    const atRoot = await resolvePlace({ ...base, watch, vfs: '/' });
    expect(atRoot.ignored(join(watch, '.vfs-relay'))).toBe(true);
    expect(atRoot.ignored(join(watch, '.vfs-relay', 'config', 'users', 'x.xml'))).toBe(true);
    expect(atRoot.ignored(join(watch, '.vfs-relayx'))).toBe(false);
    expect(atRoot.ignored(join(watch, 'a', '.vfs-relay'))).toBe(false);
    expect(atRoot.ignored(watch)).toBe(false);
    const below = await resolvePlace({ ...base, watch });
    expect(below.ignored(join(watch, '.vfs-relay'))).toBe(false); // /user_homes/john/.vfs-relay is a name like any
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
    await refuse({ vfs: '/.vfs-relay/' });
    await refuse({ vfs: '/.vfs-relay/config' });
  });
});
