import { randomBytes } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { type ApachePeer, apacheAvailable, peerConfig, startApache } from '../support/apache.js';
import {
  allDifferences,
  jobEnd,
  makeFolder,
  removePath,
  sourceConfig,
  startJob,
  writeTree,
} from '../support/convergence.js';
import { startTestRelay, type TestRelay } from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const OLD = new Date('2024-03-01T10:00:00Z');

/** A source with a few folders of files, an empty peer, and a relay that knows both. */
async function cluster(): Promise<{ source: ApachePeer; peer: ApachePeer; relay: TestRelay }> {
  const source = await startApache();
  cleanups.push(() => source.close());
  const peer = await startApache();
  cleanups.push(() => peer.close());
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 30; i++) files[`user_homes/u${i % 3}/d${i % 2}/f${i}.bin`] = randomBytes(100 + i * 53);
  files['user_homes/empty/'] = Buffer.alloc(0);
  files['user_homes/name with spaces & ü.txt'] = Buffer.from('unicode name');
  await writeTree(source, files, OLD);
  await makeFolder(peer, 'user_homes');
  const relay = await startTestRelay({
    peers: [peerConfig(peer, 'server2')],
    sources: [sourceConfig(source, 'primary')],
  });
  cleanups.push(() => relay.close());
  return { source, peer, relay };
}

describeWithServer('Apache httpd (apt-get install apache2)', apacheAvailable, 'verify and resync', () => {
  it('an empty peer verifies all missing, resyncs to identical trees, then verifies identical', async () => {
    const { source, peer, relay } = await cluster();
    const sourceTree = await source.tree();

    const verify = await jobEnd(
      relay.url,
      await startJob(relay.url, 'verify', 'server2', { from: 'primary', path: '/user_homes' }),
    );
    expect(verify).toMatchObject({ status: 'DONE', error: null });
    const missing = await allDifferences(relay.url, verify.id, 7);
    const expected = [...sourceTree.keys()].filter((p) => p.startsWith('user_homes/')).map((p) => `/${p}`);
    expect(missing.map((d) => d.path).sort()).toEqual(expected.sort());
    expect(missing.every((d) => d.kind === 'missing' && d.peer === null)).toBe(true);
    expect(verify.counts).toMatchObject({ missing: expected.length, same: 0, different: 0, extra: 0 });

    const resync = await jobEnd(
      relay.url,
      await startJob(relay.url, 'resync', 'server2', { from: 'primary', path: '/user_homes' }),
    );
    expect(resync.status).toBe('DONE');
    expect(resync.counts.copied).toBe(expected.length);
    expect(await peer.tree()).toEqual(sourceTree);

    const again = await jobEnd(
      relay.url,
      await startJob(relay.url, 'verify', 'server2', { from: 'primary', path: '/user_homes' }),
    );
    expect(await allDifferences(relay.url, again.id)).toEqual([]);
    expect(again.counts).toMatchObject({ same: expected.length, missing: 0, different: 0, extra: 0 });
  });
});

describeWithServer('Apache httpd (apt-get install apache2)', apacheAvailable, 'divergence on the peer', () => {
  it('finds each kind of divergence, resyncs without and with delete, and a dry run changes nothing', async () => {
    const { source, peer, relay } = await cluster();
    const body = { from: 'primary', path: '/user_homes' };
    await jobEnd(relay.url, await startJob(relay.url, 'resync', 'server2', body));
    const sourceTree = await source.tree();
    expect(await peer.tree()).toEqual(sourceTree);
    await writeTree(source, { 'user_homes/u0/d0/typed': 'a file on the source' }, OLD);
    await makeFolder(source, 'user_homes/u1/d1/was-a-file');

    // Divergence made on the peer's own disk.
    const edited = 'user_homes/u0/d0/f0.bin';
    await writeTree(peer, { [edited]: randomBytes(100) }, new Date('2025-06-01T00:00:00Z')); // same size as f0
    await removePath(peer, 'user_homes/u1/d1/f1.bin');
    await removePath(peer, 'user_homes/u2/d0');
    await writeTree(peer, {
      'user_homes/u0/extra.txt': 'only on the peer',
      'user_homes/old/a.txt': 'an extra folder',
      'user_homes/old/b/c.txt': 'deeper',
      'user_homes/u0/d0/typed/inside.txt': 'a folder on the peer where the source has a file',
      'user_homes/u1/d1/was-a-file': 'a file on the peer where the source has a folder',
    });

    const verify = await jobEnd(relay.url, await startJob(relay.url, 'verify', 'server2', body));
    const found = new Map((await allDifferences(relay.url, verify.id)).map((d) => [d.path, d]));
    expect(found.get(`/${edited}`)).toMatchObject({ kind: 'different', reason: 'modified' });
    expect(found.get('/user_homes/u1/d1/f1.bin')).toMatchObject({ kind: 'missing', peer: null });
    expect(found.get('/user_homes/u2/d0')).toMatchObject({ kind: 'missing', source: { type: 'dir' } });
    expect(found.get('/user_homes/u2/d0/f2.bin')).toMatchObject({ kind: 'missing' });
    expect(found.get('/user_homes/u0/extra.txt')).toMatchObject({ kind: 'extra', source: null });
    expect(found.get('/user_homes/old')).toMatchObject({ kind: 'extra', peer: { type: 'dir' } });
    expect(found.has('/user_homes/old/a.txt')).toBe(false); // an extra folder counts once
    expect(found.get('/user_homes/u0/d0/typed')).toMatchObject({ kind: 'different', reason: 'type' });
    expect(found.get('/user_homes/u1/d1/was-a-file')).toMatchObject({ kind: 'different', reason: 'type' });
    expect(verify.counts.extra).toBe(2);

    const beforeDryRun = await peer.tree();
    const mark = (await peer.requests()).length;
    const dry = await jobEnd(
      relay.url,
      await startJob(relay.url, 'resync', 'server2', { ...body, dryRun: true, delete: true }),
    );
    expect(dry.status).toBe('DONE');
    expect(dry.counts).toMatchObject({ copied: 0, deleted: 0, extra: 2 });
    expect(await peer.tree()).toEqual(beforeDryRun);
    const writes = (await peer.requests()).slice(mark).filter((r) => !['PROPFIND', 'GET'].includes(r.method));
    expect(writes).toEqual([]);

    // Without delete: what is missing or different is copied; extras (and a folder to replace by a file) stay.
    const partial = await jobEnd(relay.url, await startJob(relay.url, 'resync', 'server2', body));
    expect(partial.counts).toMatchObject({ deleted: 1, failed: 0, skipped: 0 }); // the file replaced by a folder
    const after = await peer.tree();
    expect(after.get(edited)).toBe(sourceTree.get(edited));
    expect(after.get('user_homes/u1/d1/f1.bin')).toBe(sourceTree.get('user_homes/u1/d1/f1.bin'));
    expect(after.get('user_homes/u2/d0/f2.bin')).toBe(sourceTree.get('user_homes/u2/d0/f2.bin'));
    expect(after.get('user_homes/u1/d1/was-a-file')).toBe('dir');
    expect(after.has('user_homes/old/b/c.txt')).toBe(true);
    expect(after.get('user_homes/u0/d0/typed')).toBe('dir');
    const left = await jobEnd(relay.url, await startJob(relay.url, 'verify', 'server2', body));
    const remaining = (await allDifferences(relay.url, left.id)).map((d) => `${d.kind} ${d.path}`).sort();
    expect(remaining).toEqual([
      'different /user_homes/u0/d0/typed',
      'extra /user_homes/old',
      'extra /user_homes/u0/extra.txt',
    ]);

    // With delete: identical.
    const full = await jobEnd(relay.url, await startJob(relay.url, 'resync', 'server2', { ...body, delete: true }));
    expect(full.counts.deleted).toBe(3);
    expect(await peer.tree()).toEqual(await source.tree());
    const last = await jobEnd(relay.url, await startJob(relay.url, 'verify', 'server2', body));
    expect(await allDifferences(relay.url, last.id)).toEqual([]);
  });

  it('with checksum finds a same-size edit that kept its modified time', async () => {
    const { source, peer, relay } = await cluster();
    const body = { from: 'primary', path: '/user_homes' };
    await jobEnd(relay.url, await startJob(relay.url, 'resync', 'server2', body));
    const rel = 'user_homes/u0/d1/f3.bin';
    const { stat } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const before = await stat(join(peer.root, rel));
    await writeTree(peer, { [rel]: randomBytes(before.size) }, before.mtime);

    const plain = await jobEnd(relay.url, await startJob(relay.url, 'verify', 'server2', body));
    expect(await allDifferences(relay.url, plain.id)).toEqual([]);
    const summed = await jobEnd(relay.url, await startJob(relay.url, 'verify', 'server2', { ...body, checksum: true }));
    expect(await allDifferences(relay.url, summed.id)).toEqual([
      expect.objectContaining({ path: `/${rel}`, kind: 'different', reason: 'checksum' }),
    ]);
    const fixed = await jobEnd(relay.url, await startJob(relay.url, 'resync', 'server2', { ...body, checksum: true }));
    expect(fixed.counts.copied).toBe(1);
    expect(await peer.tree()).toEqual(await source.tree());
  });
});

// Found by a review: names the relay cannot journal were filtered out of both listings without a word, and a verify
// said identical; a file on the peer above a nested location made the location's walk stop silently.
describeWithServer('Apache httpd (apt-get install apache2)', apacheAvailable, 'what verify cannot compare', () => {
  it('counts and logs the names the relay cannot replicate, found on either side', async () => {
    const source = await startApache();
    cleanups.push(() => source.close());
    const peer = await startApache();
    cleanups.push(() => peer.close());
    await writeTree(source, {
      'user_homes/ok.txt': 'same',
      'user_homes/Bundes\u00ADtag.docx': 'a soft hyphen in the name',
      'user_homes/folder \u200C x/inner.txt': 'a whole folder with a zero-width non-joiner in its name',
    });
    await writeTree(peer, { 'user_homes/ok.txt': 'same', 'user_homes/a%2Fb.txt': 'a literal %2F in the name' });
    const warnings: Record<string, unknown>[] = [];
    const relay = await startTestRelay(
      { peers: [peerConfig(peer, 'server2')], sources: [sourceConfig(source, 'primary')] },
      { logger: { ...silentLogger, warn: (message, fields) => void warnings.push({ message, ...fields }) } },
    );
    cleanups.push(() => relay.close());
    await jobEnd(relay.url, await startJob(relay.url, 'resync', 'server2', { from: 'primary', path: '/user_homes' }));
    const verify = await jobEnd(
      relay.url,
      await startJob(relay.url, 'verify', 'server2', { from: 'primary', path: '/user_homes' }),
    );
    expect(verify).toMatchObject({ status: 'DONE', counts: { same: 1, missing: 0, extra: 0, unsupported: 3 } });
    expect(
      warnings
        .filter((w) => w.message === 'a name the relay cannot replicate: not compared' && w.jobId === verify.id)
        .map((w) => w.path)
        .sort(),
    ).toEqual(['/user_homes/Bundes\u00ADtag.docx', '/user_homes/a%2Fb.txt', '/user_homes/folder \u200C x']);
  }, 60_000);

  it('a file on the peer where a folder above a nested location should be: what is below is missing', async () => {
    const source = await startApache();
    cleanups.push(() => source.close());
    const peer = await startApache();
    cleanups.push(() => peer.close());
    await writeTree(source, { 'data/homes/a.txt': 'a', 'data/homes/b/c.txt': 'c' });
    await writeTree(peer, { data: 'a stray file where the folder /data should be' });
    const relay = await startTestRelay({
      vfs: [{ path: '/data/homes', replicate: true }],
      peers: [peerConfig(peer, 'server2')],
      sources: [sourceConfig(source, 'primary')],
    });
    cleanups.push(() => relay.close());
    const verify = await jobEnd(
      relay.url,
      await startJob(relay.url, 'verify', 'server2', { from: 'primary', path: '/' }),
    );
    expect(verify.status).toBe('DONE');
    expect(verify.counts.missing).toBeGreaterThan(0);
  }, 60_000);
});
