import { chown, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { WebDavPeer } from '../../src/adapters/webdav/peer.js';
import type { Action, JournalEntry } from '../../src/core/entry.js';
import { type ApachePeer, apacheAvailable, startApache } from '../support/apache.js';
import { peerEntry } from '../support/peer-entries.js';
import { describeWithServer } from '../support/servers.js';

const entry = (action: Action, path: string, extra: Partial<JournalEntry> = {}) => peerEntry(action, path, extra);
const noBody = async (): Promise<Readable> => {
  throw new Error('no body');
};

// The adapter's cache of folders it made is no guide to what a name holds now: a file there since (made by the
// peer's own users, an active-active site, a resync) is deleted or renamed all the same.
describeWithServer(
  'Apache httpd (apt-get install apache2)',
  apacheAvailable,
  'a folder of the cache that is a file now',
  () => {
    let apache: ApachePeer;
    let peer: WebDavPeer;
    beforeAll(async () => {
      apache = await startApache();
      peer = new WebDavPeer({ name: 'apache', url: apache.url, username: apache.username, password: apache.password });
    });
    afterAll(async () => {
      await peer?.close();
      await apache?.close();
    });

    it('a delete of a path the cache knew as a folder removes the file now there', async () => {
      expect((await peer.apply(entry('makedir', '/user_homes/x'), noBody)).kind).toBe('applied');
      // On the peer, the folder became a file (its own users, an active-active site).
      const onDisk = join(apache.root, 'user_homes', 'x');
      await rm(onDisk, { recursive: true });
      await writeFile(onDisk, 'now a file');
      await chown(onDisk, ...(await ownerOf(join(apache.root, 'user_homes')))).catch(() => undefined);
      const outcome = await peer.apply(entry('delete', '/user_homes/x'), noBody);
      expect(outcome.kind).toBe('applied');
      expect([...(await apache.tree()).keys()]).not.toContain('user_homes/x');
    });

    it('a rename of a path the cache knew as a folder moves the file now there', async () => {
      expect((await peer.apply(entry('makedir', '/user_homes/y'), noBody)).kind).toBe('applied');
      const onDisk = join(apache.root, 'user_homes', 'y');
      await rm(onDisk, { recursive: true });
      await writeFile(onDisk, 'now a file');
      await chown(onDisk, ...(await ownerOf(join(apache.root, 'user_homes')))).catch(() => undefined);
      const outcome = await peer.apply(entry('rename', '/user_homes/y', { target: '/user_homes/z' }), noBody);
      expect(outcome.kind).toBe('applied');
      const tree = await apache.tree();
      expect(tree.has('user_homes/z')).toBe(true);
      expect(tree.has('user_homes/y')).toBe(false);
    });
  },
);

async function ownerOf(path: string): Promise<[number, number]> {
  const s = await stat(path);
  return [s.uid, s.gid];
}
