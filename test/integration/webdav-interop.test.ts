import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DavClient } from '../../src/adapters/webdav/dav-client.js';
import { WebDavJobWriter } from '../../src/adapters/webdav/job-writer.js';
import { WebDavPeer } from '../../src/adapters/webdav/peer.js';
import { WebDavTreeReader } from '../../src/adapters/webdav/tree-reader.js';
import { type Action, CONFIG_ROOT, type JournalEntry } from '../../src/core/entry.js';
import { countEntries } from '../../src/core/folder-delete-guard.js';
import type { ReplayOutcome } from '../../src/core/peer.js';
import {
  type DavServer,
  nginxAvailable,
  rcloneAvailable,
  startNginxDav,
  startRcloneDav,
} from '../support/dav-servers.js';
import { peerEntry } from '../support/peer-entries.js';
import { describeWithServer } from '../support/servers.js';

// The replay against WebDAV servers other than Apache (see test/support/dav-servers.ts): each change applies as
// it does on mod_dav, though the servers answer differently — nginx deletes and moves a folder only at its URL with
// the slash (409/400 without it), rclone answers a MOVE of a missing source 403, a PROPPATCH of a folder 500, a
// refused property 207 with a 403 inside, and the loser of a MKCOL race 423 (Locked).

const entry = (action: Action, path: string, extra: Partial<JournalEntry> = {}) =>
  peerEntry(action, path, extra, 'peer');
const upload = (path: string, body: string) =>
  entry('upload', path, { size: Buffer.byteLength(body), sha256: createHash('sha256').update(body).digest('hex') });
const bodyOf = (body: string) => async () => Readable.from(body === '' ? [] : [Buffer.from(body)]);
const noBody = async (): Promise<Readable> => {
  throw new Error('no body for this change');
};
const APPLIED: ReplayOutcome['kind'] = 'applied';

for (const [kind, available, start] of [
  ['nginx', nginxAvailable, startNginxDav],
  ['rclone', rcloneAvailable, startRcloneDav],
] as const) {
  describeWithServer(
    `${kind} with WebDAV (apt-get install ${kind === 'nginx' ? 'nginx-extras libnginx-mod-http-dav-ext' : 'rclone'})`,
    available,
    `replay to a ${kind} WebDAV peer`,
    () => {
      let server: DavServer;
      let peer: WebDavPeer;
      const fresh = () =>
        new WebDavPeer({ name: kind, url: server.url, username: server.username, password: server.password });
      const apply = async (e: JournalEntry, body = noBody, on = peer) => (await on.apply(e, body)).kind;
      beforeAll(async () => {
        server = await start();
        peer = fresh();
      });
      afterAll(async () => {
        await peer?.close();
        await server?.close();
      });

      it('probes, uploads into missing folders with odd names, overwrites, writes an empty file', async () => {
        expect((await peer.probe()).kind).toBe(APPLIED);
        const odd = '/user_homes/a b/c#d/100% sûr 日本/x y#%.txt';
        expect(await apply(upload(odd, 'odd'), bodyOf('odd'))).toBe(APPLIED);
        expect(await apply(upload('/user_homes/o.txt', 'first version'), bodyOf('first version'))).toBe(APPLIED);
        expect(await apply(upload('/user_homes/o.txt', '2nd'), bodyOf('2nd'))).toBe(APPLIED);
        expect(await apply(upload('/user_homes/empty.txt', ''), bodyOf(''))).toBe(APPLIED);
        expect(await apply(entry('makedir', '/user_homes/made'))).toBe(APPLIED);
        expect(await apply(entry('makedir', '/user_homes/made'), noBody, fresh())).toBe(APPLIED);
        const tree = await server.tree();
        expect(tree.get(odd.slice(1))).toBe('odd');
        expect(tree.get('user_homes/o.txt')).toBe('2nd');
        expect(tree.get('user_homes/empty.txt')).toBe('');
        expect(tree.get('user_homes/made')).toBe('dir');
      });

      it('deletes a folder with what it holds, and a path already gone', async () => {
        expect(await apply(upload('/user_homes/gone/in/x.txt', 'x'), bodyOf('x'))).toBe(APPLIED);
        expect(await apply(entry('delete', '/user_homes/gone'))).toBe(APPLIED);
        expect(await apply(entry('delete', '/user_homes/never-there'))).toBe(APPLIED);
        expect([...(await server.tree()).keys()].filter((p) => p.startsWith('user_homes/gone'))).toEqual([]);
      });

      it('renames a file into a missing folder, a folder, onto a file; a rename applied before is applied', async () => {
        expect(await apply(upload('/user_homes/r/a.txt', 'a'), bodyOf('a'))).toBe(APPLIED);
        expect(await apply(upload('/user_homes/r/d/b.txt', 'b'), bodyOf('b'))).toBe(APPLIED);
        expect(await apply(upload('/user_homes/r/c.txt', 'c'), bodyOf('c'))).toBe(APPLIED);
        const file = entry('rename', '/user_homes/r/a.txt', { target: '/user_homes/r/new/deep/a.txt' });
        expect(await apply(file)).toBe(APPLIED);
        const folder = entry('rename', '/user_homes/r/d', { target: '/user_homes/r/e' });
        expect(await apply(folder)).toBe(APPLIED);
        expect(await apply(entry('rename', '/user_homes/r/c.txt', { target: '/user_homes/r/e/b.txt' }))).toBe(APPLIED);
        // Sent again after a crash: the source is gone and the target there.
        expect(await apply(file, noBody, fresh())).toBe(APPLIED);
        expect(await apply(folder, noBody, fresh())).toBe(APPLIED);
        const tree = await server.tree();
        expect([...tree].filter(([p]) => p.startsWith('user_homes/r/'))).toEqual([
          ['user_homes/r/e', 'dir'],
          ['user_homes/r/e/b.txt', 'c'],
          ['user_homes/r/new', 'dir'],
          ['user_homes/r/new/deep', 'dir'],
          ['user_homes/r/new/deep/a.txt', 'a'],
        ]);
      });

      it('a modified time the server cannot set is applied (logged), for a file and a folder', async () => {
        expect(await apply(upload('/user_homes/t/f.txt', 'f'), bodyOf('f'))).toBe(APPLIED);
        const modified = '2026-01-02T03:04:05.000Z';
        expect(await apply(entry('mdtm', '/user_homes/t/f.txt', { modified }))).toBe(APPLIED);
        expect(await apply(entry('mdtm', '/user_homes/t', { modified }))).toBe(APPLIED);
      });

      it('parallel uploads into one new folder all apply, whatever the losers of the MKCOL race are answered', async () => {
        const peers = Array.from({ length: 12 }, fresh);
        try {
          const outcomes = await Promise.all(
            peers.map((p, i) => p.apply(upload(`/user_homes/par/sub/f${i}.txt`, `${i}`), bodyOf(`${i}`))),
          );
          expect(outcomes.map((o) => o.kind)).toEqual(peers.map(() => APPLIED));
        } finally {
          for (const p of peers) await p.close();
        }
        const tree = await server.tree();
        expect(peers.map((_, i) => tree.get(`user_homes/par/sub/f${i}.txt`))).toEqual(peers.map((_, i) => `${i}`));
      });

      it('a resync overwrites and removes a file conditional on the version it compared', async () => {
        const source = await start();
        const client = (s: DavServer) => new DavClient({ url: s.url, username: s.username, password: s.password });
        const [from, to] = [client(source), client(server)];
        const sourcePeer = new WebDavPeer({
          name: 'src',
          url: source.url,
          username: source.username,
          password: source.password,
        });
        try {
          expect(await apply(upload('/user_homes/rs/a.txt', 'new'), bodyOf('new'), sourcePeer)).toBe(APPLIED);
          expect(await apply(upload('/user_homes/rs/a.txt', 'old'), bodyOf('old'))).toBe(APPLIED);
          expect(await apply(upload('/user_homes/rs/b.txt', 'extra'), bodyOf('extra'))).toBe(APPLIED);
          const reader = new WebDavTreeReader(kind, {
            url: server.url,
            username: server.username,
            password: server.password,
          });
          const [a, b] = await Promise.all([
            reader.stat('/user_homes/rs/a.txt'),
            reader.stat('/user_homes/rs/b.txt'),
          ]).finally(() => reader.close());
          const writer = new WebDavJobWriter({ peer: to, sources: new Map([['src', from]]), setModifiedTime: false });
          const copy = entry('upload', '/user_homes/rs/a.txt', { from: 'src', size: 3, ifMatch: a?.etag });
          expect((await writer.write(copy)).kind).toBe('written');
          expect((await writer.write(entry('delete', '/user_homes/rs/b.txt', { ifMatch: b?.etag }))).kind).toBe(
            'written',
          );
          const tree = await server.tree();
          expect(tree.get('user_homes/rs/a.txt')).toBe('new');
          expect(tree.has('user_homes/rs/b.txt')).toBe(false);
        } finally {
          await sourcePeer.close();
          await from.close();
          await to.close();
          await source.close();
        }
      });

      it('stores and removes a configuration document, and counts a folder for the delete guard', async () => {
        const doc = `${CONFIG_ROOT}/users/john.XML`;
        const xml = '<user><name>john</name></user>';
        expect(await apply(entry('config_put', doc, { size: xml.length }), bodyOf(xml))).toBe(APPLIED);
        expect((await server.tree()).get(doc.slice(1))).toBe(xml);
        expect(await apply(entry('config_delete', doc))).toBe(APPLIED);
        expect((await server.tree()).has(doc.slice(1))).toBe(false);

        for (let i = 0; i < 3; i++)
          expect(await apply(upload(`/user_homes/many/f${i}`, 'x'), bodyOf('x'))).toBe(APPLIED);
        const reader = new WebDavTreeReader(kind, {
          url: server.url,
          username: server.username,
          password: server.password,
        });
        try {
          expect((await reader.stat('/user_homes/many'))?.type).toBe('dir');
          expect(await countEntries(reader, '/user_homes/many', 10)).toBe(3);
        } finally {
          await reader.close();
        }
      });
    },
  );
}
