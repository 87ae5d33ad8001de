import { describe, expect, it } from 'vitest';
import { ReplicaEchoFilter } from '../../src/core/echo.js';
import type { JournalEntry } from '../../src/core/entry.js';

const applied = (overrides: Partial<JournalEntry>): JournalEntry => ({
  id: '20261127T055429693Z-000000-9f2c1a',
  lane: '0123456789abcdef',
  peer: 'server-b',
  location: '/user_homes',
  action: 'upload',
  path: '/user_homes/john/a.txt',
  sha256: 'a'.repeat(64),
  createdAt: '2026-11-27T05:54:29.693Z',
  status: 'PENDING',
  attempts: 0,
  ...overrides,
});

function filter(now = { t: 0 }) {
  return {
    now,
    echo: new ReplicaEchoFilter({ nodeOfPeer: new Map([['server-b', 'node-b']]), windowMs: 1000, now: () => now.t }),
  };
}

describe('ReplicaEchoFilter', () => {
  it('drops the replica of an upload reported by the peer’s own node, each time, and counts it', () => {
    const { echo } = filter();
    echo.recordApplied(applied({}));
    const report = { action: 'upload' as const, path: '/user_homes/john/a.txt', sha256: 'a'.repeat(64) };
    expect(echo.isEcho(report, 'node-a')).toBe(false); // another node: a real change
    expect(echo.isEcho({ ...report, sha256: 'b'.repeat(64) }, 'node-b')).toBe(false); // other content: real
    expect(echo.isEcho(report, 'node-b')).toBe(true);
    // A watcher may report one replica twice (add, then change): the repeat is an echo too.
    expect(echo.isEcho(report, 'node-b')).toBe(true);
    expect(echo.counts().get('node-b')).toBe(2);
  });

  it('recognises the parent folders a replica upload created, renames and deletes below a deleted folder', () => {
    const { echo } = filter();
    echo.recordApplied(applied({ path: '/user_homes/john/new/deep/a.txt' }));
    expect(echo.isEcho({ action: 'makedir', path: '/user_homes/john/new' }, 'node-b')).toBe(true);
    expect(echo.isEcho({ action: 'makedir', path: '/user_homes/john/new/deep' }, 'node-b')).toBe(true);
    expect(echo.isEcho({ action: 'makedir', path: '/user_homes' }, 'node-b')).toBe(false);
    echo.recordApplied(
      applied({ action: 'rename', path: '/user_homes/x', target: '/user_homes/y', sha256: undefined }),
    );
    expect(echo.isEcho({ action: 'rename', path: '/user_homes/x', target: '/user_homes/y' }, 'node-b')).toBe(true);
    echo.recordApplied(applied({ action: 'delete', path: '/user_homes/gone', sha256: undefined }));
    expect(echo.isEcho({ action: 'delete', path: '/user_homes/gone/child.txt' }, 'node-b')).toBe(true);
    expect(echo.isEcho({ action: 'delete', path: '/user_homes/gone' }, 'node-b')).toBe(true);
    expect(echo.isEcho({ action: 'delete', path: '/user_homes/gonex' }, 'node-b')).toBe(false);
  });

  it('forgets replicas after the window, and ignores peers that are no node’s server', () => {
    const { echo, now } = filter();
    echo.recordApplied(applied({}));
    echo.recordApplied(applied({ peer: 'server-c' }));
    now.t = 1001;
    expect(echo.isEcho({ action: 'upload', path: '/user_homes/john/a.txt', sha256: 'a'.repeat(64) }, 'node-b')).toBe(
      false,
    );
    expect(echo.counts().size).toBe(0);
  });

  it('treats configuration documents like files', () => {
    const { echo } = filter();
    echo.recordApplied(applied({ action: 'config_put', path: '/.vfs-relay/config/users/john', location: 'config:' }));
    expect(
      echo.isEcho({ action: 'config_put', path: '/.vfs-relay/config/users/john', sha256: 'a'.repeat(64) }, 'node-b'),
    ).toBe(true);
  });
});
