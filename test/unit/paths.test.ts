import { describe, expect, it } from 'vitest';
import { BadPathError } from '../../src/core/errors.js';
import { isSameOrBelow, normalizePath, parentOf, pathsOverlap } from '../../src/core/paths.js';

describe('normalizePath', () => {
  it.each([
    ['/user_homes/john/a.txt', '/user_homes/john/a.txt'],
    ['/user_homes/john/', '/user_homes/john'],
    ['/', '/'],
    ['/a b/c#d/e%f', '/a b/c#d/e%f'],
    ['/ünïcødé/日本語.txt', '/ünïcødé/日本語.txt'],
    ['/...a', '/...a'],
    ['/a. b', '/a. b'],
    ['/a/.hidden', '/a/.hidden'],
    ['/%41', '/%41'],
  ])('accepts %j as %j', (raw, normal) => {
    expect(normalizePath(raw)).toBe(normal);
  });

  it.each([
    ['', 'non-empty'],
    ['relative/path', 'absolute'],
    ['C:\\Users\\john', 'absolute'],
    ['\\\\server\\share', 'absolute'],
    ['/a\\b', 'backslash'],
    ['/a/../b', '".."'],
    ['/..', '".."'],
    ['/a/./b', '"."'],
    // Windows drops trailing dots and spaces from a name: these would be "." or ".." (or nothing) on such a peer.
    ['/a/.. /b', 'dots and spaces'],
    ['/a/..%20/b', 'percent-encoded'],
    ['/a/. /b', 'dots and spaces'],
    ['/...', 'dots and spaces'],
    ['/a/ ', 'dots and spaces'],
    ['//a', 'empty segment'],
    ['/a//b', 'empty segment'],
    ['/a/b//', 'empty segment'],
    ['/a\u0000b', 'control'],
    ['/a\nb', 'control'],
    ['/a\u007fb', 'control'],
    ['/a\u0085b', 'control'],
    ['/a/%2e%2e/b', 'percent-encoded'],
    ['/a/%2E./b', 'percent-encoded'],
    ['/a/..%2fb', 'percent-encoded'],
    ['/a/x%5Cy', 'percent-encoded'],
    ['/\ud800x', 'Unicode'],
    ['/invoice\u202etxt.exe', 'format characters'],
    ['/a\u2066b\u2069', 'format characters'],
    ['/ad\u200bmin', 'format characters'],
    ['/a\u200db', 'format characters'],
    ['/soft\u00adhyphen', 'format characters'],
    ['/tag\u{e0041}', 'format characters'],
    ['/a%E2%80%AEb', 'percent-encoded'],
    [`/${'a'.repeat(256)}`, 'longer than 255'],
    [`/${'abcdefgh/'.repeat(460)}x`, 'longer than 4096'],
  ])('refuses %j (%s)', (raw, reason) => {
    expect(() => normalizePath(raw)).toThrow(BadPathError);
    expect(() => normalizePath(raw)).toThrow(reason);
  });

  it('refuses non-strings', () => {
    expect(() => normalizePath(42)).toThrow(BadPathError);
    expect(() => normalizePath(undefined)).toThrow(BadPathError);
  });

  it('counts the length limit in UTF-8 bytes, not characters', () => {
    expect(() => normalizePath(`/${'é'.repeat(128)}`)).toThrow(BadPathError); // 256 bytes
    expect(normalizePath(`/${'é'.repeat(127)}`)).toHaveLength(128);
  });
});

describe('path relations', () => {
  it('knows ancestors, descendants and strangers', () => {
    expect(isSameOrBelow('/a/b', '/a')).toBe(true);
    expect(isSameOrBelow('/a', '/a')).toBe(true);
    expect(isSameOrBelow('/ab', '/a')).toBe(false);
    expect(isSameOrBelow('/anything', '/')).toBe(true);
    expect(pathsOverlap('/a', '/a/b/c')).toBe(true);
    expect(pathsOverlap('/a/b/c', '/a')).toBe(true);
    expect(pathsOverlap('/a/b', '/a/c')).toBe(false);
    expect(parentOf('/a/b/c')).toBe('/a/b');
    expect(parentOf('/a')).toBe('/');
    expect(parentOf('/')).toBe('/');
  });
});
