import { describe, expect, it } from 'vitest';
import { compareFolder, sameModified } from '../../src/core/jobs/compare.js';
import { JobScope } from '../../src/core/jobs/scope.js';
import type { TreeItem } from '../../src/core/jobs/tree.js';

const scope = new JobScope([
  { path: '/user_homes', replicate: true },
  { path: '/user_homes/private', replicate: false },
]);
const options = { checksum: false, delete: false, dryRun: false, scope };
const T = '2024-03-01T10:00:00.000Z';
const file = (name: string, size = 10, modified = T, etag = `"${name}"`): TreeItem => ({
  name,
  type: 'file',
  size,
  modified,
  etag,
});
const dir = (name: string, modified = T): TreeItem => ({ name, type: 'dir', modified, etag: `W/"${name}"` });

describe('compareFolder', () => {
  it('type, then size, then modified time within 2 s; a folder is never different by its own time', async () => {
    const result = await compareFolder(
      { path: '/user_homes' },
      [file('a'), file('b'), file('c'), dir('d'), file('e')],
      [
        file('a', 10, '2024-03-01T10:00:01.900Z'),
        file('b', 11),
        file('c', 10, '2024-03-01T10:00:03.000Z'),
        dir('d', '2020-01-01T00:00:00.000Z'),
        dir('e'),
      ],
      options,
    );
    expect(result.differences.map((d) => [d.path, d.kind, d.reason])).toEqual([
      ['/user_homes/b', 'different', 'size'],
      ['/user_homes/c', 'different', 'modified'],
      ['/user_homes/e', 'different', 'type'],
    ]);
    expect(result.counts).toEqual({ scanned: 5, same: 2, different: 3 });
    expect(result.children).toEqual([{ path: '/user_homes/d' }]);
  });

  it('plans conditional writes: copies over the ETag seen, missing paths only if still absent', async () => {
    const result = await compareFolder(
      { path: '/user_homes' },
      [file('new', 5), file('old', 7), dir('folder')],
      [file('old', 8, T, '"peer-old"')],
      options,
    );
    expect(result.writes).toEqual([
      { op: 'copy', path: '/user_homes/new', size: 5, modified: T, fromEtag: '"new"', ifNoneMatch: '*' },
      { op: 'copy', path: '/user_homes/old', size: 7, modified: T, fromEtag: '"old"', ifMatch: '"peer-old"' },
      { op: 'makedir', path: '/user_homes/folder', ifNoneMatch: '*' },
    ]);
    expect(result.children).toEqual([{ path: '/user_homes/folder', peerAbsent: true }]);
    expect(result.bytes).toBe(12);
  });

  it('removes extras only with delete, and an extra folder is one difference, not walked', async () => {
    const peer = [file('x'), dir('gone')];
    const keep = await compareFolder({ path: '/user_homes' }, [], peer, options);
    expect(keep.differences.map((d) => d.kind)).toEqual(['extra', 'extra']);
    expect(keep.writes).toEqual([]);
    expect(keep.children).toEqual([]);
    const remove = await compareFolder({ path: '/user_homes' }, [], peer, { ...options, delete: true });
    expect(remove.writes).toEqual([
      { op: 'delete', path: '/user_homes/x', ifMatch: '"x"', why: 'extra' },
      { op: 'delete', path: '/user_homes/gone', ifMatch: undefined, why: 'extra' },
    ]);
  });

  it('replaces a file by a folder always, a folder by a file only with delete', async () => {
    const folderOnSource = await compareFolder({ path: '/user_homes' }, [dir('t')], [file('t')], options);
    expect(folderOnSource.writes.map((w) => w.op)).toEqual(['delete', 'makedir']);
    expect(folderOnSource.children).toEqual([{ path: '/user_homes/t', peerAbsent: true }]);
    const fileOnSource = await compareFolder({ path: '/user_homes' }, [file('t')], [dir('t')], options);
    expect(fileOnSource.writes).toEqual([]);
    const withDelete = await compareFolder({ path: '/user_homes' }, [file('t')], [dir('t')], {
      ...options,
      delete: true,
    });
    expect(withDelete.writes.map((w) => w.op)).toEqual(['delete', 'copy']);
  });

  it('leaves paths outside replicated locations alone, and walks through folders above them', async () => {
    const inside = await compareFolder({ path: '/user_homes' }, [dir('private'), file('a')], [file('private')], {
      ...options,
      delete: true,
    });
    expect(inside.differences.map((d) => d.path)).toEqual(['/user_homes/a']);
    expect(inside.writes.map((w) => w.path)).toEqual(['/user_homes/a']);
    const root = await compareFolder({ path: '/' }, [dir('user_homes'), dir('other'), file('f')], [], options);
    expect(root.differences.map((d) => [d.path, d.kind])).toEqual([['/user_homes', 'missing']]); // a location's root is in it
    expect(root.children).toEqual([{ path: '/user_homes', peerAbsent: true }]);
    const above = new JobScope([{ path: '/a/b', replicate: true }]);
    const through = await compareFolder({ path: '/' }, [dir('a'), dir('c')], [dir('a')], { ...options, scope: above });
    expect(through.differences).toEqual([]);
    expect(through.children).toEqual([{ path: '/a' }]);
  });

  it('never removes or replaces a location root', async () => {
    const root = await compareFolder({ path: '/' }, [], [dir('user_homes')], { ...options, delete: true });
    expect(root.writes).toEqual([]);
  });

  it('with checksum compares content of equal-size files, whatever their times', async () => {
    const sums = new Map([
      ['/user_homes/a', { source: '1', peer: '1' }],
      ['/user_homes/b', { source: '1', peer: '2' }],
    ]);
    const asked: string[] = [];
    const result = await compareFolder(
      { path: '/user_homes' },
      [file('a'), file('b'), file('c', 3)],
      [file('a', 10, '2001-01-01T00:00:00.000Z'), file('b'), file('c', 4)],
      {
        ...options,
        checksum: true,
        checksums: async (path) => {
          asked.push(path);
          return sums.get(path)!;
        },
      },
    );
    expect(result.differences.map((d) => [d.path, d.reason])).toEqual([
      ['/user_homes/b', 'checksum'],
      ['/user_homes/c', 'size'],
    ]);
    expect(asked.sort()).toEqual(['/user_homes/a', '/user_homes/b']);
  });

  it('sameModified: ±2 s, and two unknown times are the same', () => {
    expect(sameModified('2024-01-01T00:00:00Z', '2024-01-01T00:00:02Z')).toBe(true);
    expect(sameModified('2024-01-01T00:00:00Z', '2024-01-01T00:00:02.001Z')).toBe(false);
    expect(sameModified(undefined, undefined)).toBe(true);
    expect(sameModified(undefined, '2024-01-01T00:00:00Z')).toBe(false);
  });
});
