import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DavClient } from '../../src/adapters/webdav/dav-client.js';
import { WebDavJobWriter } from '../../src/adapters/webdav/job-writer.js';
import type { JournalEntry } from '../../src/core/entry.js';
import { StampClock } from '../../src/core/stamp.js';
import { type ApachePeer, apacheAvailable, startApache } from '../support/apache.js';
import { describeWithServer } from '../support/servers.js';

// A resync's writes to the peer (WebDavJobWriter) against Apache as Debian ships it (mod_dir): folders named
// without their slash, and folders removed on the peer behind the writer's cache.

const clock = new StampClock();
function entry(fields: Pick<JournalEntry, 'action' | 'path'> & Partial<JournalEntry>): JournalEntry {
  return {
    id: clock.next(),
    lane: '0123456789abcdef',
    peer: 'server2',
    location: '/k',
    createdAt: new Date().toISOString(),
    status: 'PENDING',
    attempts: 0,
    ...fields,
  };
}

function client(server: ApachePeer): DavClient {
  return new DavClient({ url: server.url, username: server.username, password: server.password, timeoutMs: 10_000 });
}

describeWithServer('Apache httpd (apt-get install apache2)', apacheAvailable, 'resync writes to a WebDAV peer', () => {
  let source: ApachePeer;
  let peer: ApachePeer;
  const clients: DavClient[] = [];
  let writer: WebDavJobWriter;

  beforeAll(async () => {
    [source, peer] = await Promise.all([startApache(), startApache()]);
    const from = client(source);
    const to = client(peer);
    clients.push(from, to);
    writer = new WebDavJobWriter({ peer: to, sources: new Map([['primary', from]]), setModifiedTime: false });
    await mkdir(join(source.root, 'k/mary/docs'), { recursive: true });
    for (const name of ['a.txt', 'b.txt']) await writeFile(join(source.root, 'k/mary/docs', name), name);
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await Promise.all([source?.close(), peer?.close()]);
  });

  it('copies into a folder whose grandparent was removed on the peer since the writer made it', async () => {
    const a = entry({ action: 'upload', path: '/k/mary/docs/a.txt', from: 'primary', size: 5 });
    expect(await writer.write(a)).toMatchObject({ kind: 'written' });
    await rm(join(peer.root, 'k/mary'), { recursive: true }); // by the peer's own users
    const b = entry({ action: 'upload', path: '/k/mary/docs/b.txt', from: 'primary', size: 5 });
    expect(await writer.write(b)).toMatchObject({ kind: 'written' });
    expect((await peer.tree()).has('k/mary/docs/b.txt')).toBe(true);
  });

  it('makes a folder under a grandparent removed on the peer since', async () => {
    expect(await writer.write(entry({ action: 'makedir', path: '/k/john/x/y' }))).toMatchObject({ kind: 'written' });
    await rm(join(peer.root, 'k/john'), { recursive: true });
    expect(await writer.write(entry({ action: 'makedir', path: '/k/john/x/z' }))).toMatchObject({ kind: 'written' });
    expect((await peer.tree()).get('k/john/x/z')).toBe('dir');
  });

  it('does not copy a file that is a folder on the source now (the server would answer its HTML listing)', async () => {
    const listing = await startApache({
      extraConfig: [
        'LoadModule autoindex_module /usr/lib/apache2/modules/mod_autoindex.so',
        '<Location "/">',
        '  Options +Indexes',
        '</Location>',
      ],
    });
    const from = client(listing);
    clients.push(from);
    await mkdir(join(listing.root, 'k/was-a-file'), { recursive: true });
    const copying = new WebDavJobWriter({
      peer: clients[1]!,
      sources: new Map([['primary', from]]),
      setModifiedTime: false,
    });
    try {
      const result = await copying.write(entry({ action: 'upload', path: '/k/was-a-file', from: 'primary', size: 5 }));
      expect(result.kind).not.toBe('written');
      expect((await peer.tree()).has('k/was-a-file')).toBe(false);
    } finally {
      await listing.close();
    }
  });

  it('removes a folder named without its slash', async () => {
    expect(await writer.write(entry({ action: 'makedir', path: '/k/gone/inner' }))).toMatchObject({ kind: 'written' });
    expect(await writer.write(entry({ action: 'delete', path: '/k/gone' }))).toMatchObject({ kind: 'written' });
    expect((await peer.tree()).has('k/gone')).toBe(false);
  });
});
