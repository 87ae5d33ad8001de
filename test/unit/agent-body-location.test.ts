import { describe, expect, it } from 'vitest';
import { locateBody } from '../../src/agent/body-location.js';

describe('locateBody', () => {
  it('reads an upload from its own path when nothing later touches it', () => {
    expect(locateBody('a/x', [{ action: 'upload', path: 'a/y' }])).toEqual({ kind: 'at', path: 'a/x' });
  });

  it('follows later renames of the file and of its folders', () => {
    expect(
      locateBody('a/x', [
        { action: 'rename', path: 'a/x', target: 'a/y' },
        { action: 'makedir', path: 'b' },
        { action: 'rename', path: 'a', target: 'b/a' },
      ]),
    ).toEqual({ kind: 'at', path: 'b/a/y' });
  });

  it('knows when the bytes are deleted or overwritten later', () => {
    expect(locateBody('a/x', [{ action: 'delete', path: 'a' }])).toEqual({ kind: 'deleted' });
    expect(locateBody('a/x', [{ action: 'rename', path: 'z', target: 'a/x' }])).toEqual({ kind: 'deleted' });
  });

  it('skips an upload sent again later, but not once the file has moved in between', () => {
    expect(locateBody('x', [{ action: 'upload', path: 'x' }])).toEqual({ kind: 'superseded' });
    expect(
      locateBody('x', [
        { action: 'rename', path: 'x', target: 'y' },
        { action: 'upload', path: 'y' },
      ]),
    ).toEqual({ kind: 'at', path: 'y' });
    // Moved away and back: the queued renames still need this upload on the peer to move.
    expect(
      locateBody('x', [
        { action: 'rename', path: 'x', target: 'y' },
        { action: 'rename', path: 'y', target: 'x' },
        { action: 'upload', path: 'x' },
      ]),
    ).toEqual({ kind: 'at', path: 'x' });
  });
});
