import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { journalShow, status } from '../../src/cli/commands/operator.js';
import { table } from '../../src/cli/format.js';
import type { ChangeView } from '../../src/core/journal-view.js';

// What `status` and `journal show` print from the relay's answers (a review found the CONFLICTS column counting
// FAILED too, a change CONFLICT on one peer and FAILED on another listed twice, and a BLOCKED peer shown with the
// error of an attempt made before it was blocked). The answers come from a loopback server standing in for the
// relay; the integration tests (cli.test.ts) run the same commands against a real one.

const peer = {
  name: 'server2',
  url: 'https://dav.example/',
  status: 'ONLINE',
  lastPingAt: '2026-12-07T10:00:00.000Z',
  pending: 3,
  pendingBytes: 2048,
  oldestPendingAt: '2026-12-07T09:00:00.000Z',
  conflicts: 1,
  failed: 1,
  blocked: 1,
  held: 0,
};

function change(id: string, path: string, peers: Partial<ChangeView['peers'][number]>[]): ChangeView {
  return {
    id,
    action: 'upload',
    path,
    createdAt: '2026-12-07T09:00:00.000Z',
    status: peers[0]!.status!,
    peers: peers.map((p, i) => ({ peer: `server${i + 2}`, lane: 'default', status: 'PENDING', attempts: 1, ...p })),
  };
}

// CONFLICT on server2, FAILED on server3: in both pages the CLI asks for.
const both = change('20261207090000000001', '/user_homes/a.txt', [
  { status: 'CONFLICT', lastError: '412 Precondition Failed' },
  { status: 'FAILED', lastError: 'body missing' },
]);
const older = change('20261207080000000001', '/user_homes/b.txt', [{ status: 'FAILED', lastError: 'body missing' }]);
const blocked = change('20261207090000000002', '/user_homes/a.txt', [
  { status: 'BLOCKED', blockedBy: both.id, lastError: '503 Service Unavailable (an earlier attempt)' },
]);

describe('operator CLI output', () => {
  let server: Server;
  let relay: string;
  let out: string[];

  beforeAll(async () => {
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const answer =
        url.pathname === '/v1/peers'
          ? [peer]
          : url.pathname === '/v1/changes'
            ? { items: url.searchParams.get('status') === 'CONFLICT' ? [both] : [older, both], next: null }
            : url.pathname === `/v1/changes/${blocked.id}`
              ? blocked
              : undefined;
      res.writeHead(answer ? 200 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer ?? { error: { code: 'NOT_FOUND', message: 'no such thing' } }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    relay = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  function capture(): void {
    out = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
  }
  afterEach(() => vi.restoreAllMocks());

  it('status counts conflicts and failed changes in their own columns, and lists each parked change once', async () => {
    capture();
    await status({ relay, token: 'admin-token' });
    const lines = out.join('').split('\n');
    const header = lines.findIndex((l) => l.startsWith('PEER'));
    expect(lines[header]).toMatch(/CONFLICTS\s+FAILED\s+HELD\s+BLOCKED/);
    const row = lines[header + 1]!;
    const column = (name: string) => row.slice(lines[header]!.indexOf(name)).split(/\s+/)[0];
    expect(column('CONFLICTS')).toBe('1');
    expect(column('FAILED')).toBe('1');
    const parked = lines.slice(lines.findIndex((l) => l.startsWith('Needs an operator')) + 1).filter((l) => l);
    expect(parked.filter((l) => l.includes(both.id))).toHaveLength(1);
    // Oldest first, across the two pages; the reason is the parked peer's.
    expect(parked.map((l) => l.split(/\s+/)[0])).toEqual(['ID', older.id, both.id]);
    expect(parked.find((l) => l.includes(both.id))).toContain('412 Precondition Failed');
  });

  it('journal show says what a BLOCKED peer waits behind, not an earlier attempt’s error', async () => {
    capture();
    await journalShow(blocked.id, { relay, token: 'admin-token' });
    const text = out.join('');
    expect(text).toMatch(new RegExp(`server2\\s+BLOCKED\\s+1\\s+-\\s+waits behind ${both.id}`));
    expect(text).not.toContain('an earlier attempt');
  });

  it('table columns line up when a cell is written with escapes', () => {
    const lines = table(
      ['PATH', 'STATUS'],
      [
        ['/a\u001b[2Jb', 'CONFLICT'],
        ['/plain-name-of-ten', 'PENDING'],
      ],
    ).split('\n');
    expect(lines[1]).toBe('/a\\u001b[2Jb        CONFLICT');
    const starts = lines.map((l) => l.search(/CONFLICT|PENDING|STATUS/));
    expect(new Set(starts).size).toBe(1);
  });
});
