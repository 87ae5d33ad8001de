import { describe, expect, it } from 'vitest';
import { TouchSet, touchesOf } from '../../src/core/jobs/touch-set.js';

describe('TouchSet', () => {
  it('an upload, delete or rename touches its path, what lies below it and what lies above it', () => {
    const set = new TouchSet();
    for (const touch of touchesOf({ action: 'rename', path: '/a/b', target: '/c/d' })) set.add(touch);
    for (const path of ['/a/b', '/a/b/x', '/a', '/', '/c/d', '/c/d/e', '/c']) expect(set.touches(path)).toBe(true);
    for (const path of ['/a/bb', '/a/c', '/c/e', '/z']) expect(set.touches(path)).toBe(false);
  });

  it('a makedir or mdtm touches its path and the folders above it, not what lies below', () => {
    const set = new TouchSet();
    for (const touch of touchesOf({ action: 'makedir', path: '/a/b' })) set.add(touch);
    expect(set.touches('/a/b')).toBe(true);
    expect(set.touches('/a')).toBe(true); // removing /a would remove the new folder
    expect(set.touches('/a/b/file')).toBe(false); // copying into the folder undoes nothing
  });

  it('coarsens past its bound to parents, covering more paths, never fewer', () => {
    const set = new TouchSet(8);
    const paths = Array.from({ length: 20 }, (_, i) => `/top/f${i % 4}/file${i}`);
    for (const path of paths) set.add({ path, kind: i(path) ? 'node' : 'tree' });
    expect(set.size).toBeLessThanOrEqual(8);
    for (const path of paths) expect(set.touches(path)).toBe(true);
    expect(set.touches('/top/f1/another')).toBe(true); // the price: more is left alone
    expect(set.touches('/elsewhere')).toBe(false);
  });
});

function i(path: string): boolean {
  return path.endsWith('0');
}
