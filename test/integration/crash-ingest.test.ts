import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsJournalStore, JOURNAL_DIR } from '../../src/adapters/fs-journal/store.js';
import { decodeEntry } from '../../src/core/entry-xml.js';
import { laneId } from '../../src/core/lane.js';
import { spawnTs } from '../support/child.js';
import { waitFor } from '../support/node-client.js';
import { NODE_A_TOKEN } from '../support/relay.js';
import { tempDir } from '../support/tmp.js';

const CHILD = fileURLToPath(new URL('../support/crash-child.ts', import.meta.url));
const KILLS = 20;
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const LANES = [laneId('/user_homes', 'server2'), laneId('/user_homes', 'server3')];
const CONFIG = JSON.stringify({
  peers: [
    { name: 'server2', url: 'http://127.0.0.1:9/' },
    { name: 'server3', url: 'http://127.0.0.1:9/' },
  ],
  vfs: [{ path: '/user_homes' }],
  auth: { adminToken: 'crash-admin-token-0123456789', nodeTokens: { 'node-a': NODE_A_TOKEN } },
});

interface Acknowledged {
  id: string;
  action: 'upload' | 'makedir';
  path: string;
  sha256?: string;
  size?: number;
}

/** One node uploading as fast as it can until the relay dies; returns what the relay acknowledged. */
async function ingestUntilDead(url: string, worker: number, round: number, acked: Acknowledged[]): Promise<void> {
  const headers = { authorization: `Bearer ${NODE_A_TOKEN}`, 'content-type': 'application/json' };
  for (let i = 0; ; i++) {
    const path = `/user_homes/r${round}/w${worker}/f${i}`;
    try {
      if (i % 5 === 4) {
        const res = await fetch(`${url}/v1/changes`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ action: 'makedir', path }),
        });
        if (res.status === 202) acked.push({ id: ((await res.json()) as { id: string }).id, action: 'makedir', path });
        continue;
      }
      // Mostly small bodies (journaled from memory); every fifth upload is 300 KiB–1.5 MiB: streamed to disk, and
      // above 1 MiB fsynced in place rather than carried in the log.
      const spread = (worker * 7919 + i * 104729) % (1200 * 1024);
      const body = randomBytes(i % 10 === 3 || i % 10 === 7 ? 300 * 1024 + spread : 1 + (spread % (64 * 1024)));
      const change = { action: 'upload', path, size: body.length, sha256: sha(body) };
      if (i % 5 === 1 || i % 5 === 2) {
        // The one-request upload (POST /v1/uploads): small bodies take the in-memory fast path, large ones go to disk.
        const query = new URLSearchParams({ path, size: String(body.length), sha256: change.sha256 });
        const res = await fetch(`${url}/v1/uploads?${query}`, {
          method: 'POST',
          headers: { authorization: headers.authorization, 'content-type': 'application/octet-stream' },
          body,
        });
        if (res.status === 201) {
          const { id } = (await res.json()) as { id: string };
          acked.push({ id, action: 'upload', path, sha256: change.sha256, size: body.length });
        }
        continue;
      }
      const res = await fetch(`${url}/v1/changes`, { method: 'POST', headers, body: JSON.stringify(change) });
      const { id, upload } = (await res.json()) as { id: string; upload: { url: string } };
      const put = await fetch(upload.url, { method: 'PUT', headers: { authorization: headers.authorization }, body });
      if (put.status !== 200) throw new Error(`PUT ${put.status}`);
      const commit = await fetch(`${url}/v1/changes/${id}/commit`, {
        method: 'POST',
        headers: { authorization: headers.authorization },
      });
      if (commit.status === 200) acked.push({ id, action: 'upload', path, sha256: change.sha256, size: body.length });
    } catch {
      return; // the relay was killed mid-request
    }
  }
}

/**
 * Reads the journal straight from disk, as an operator would after a restart: every visible config.XML decodes, and
 * the bodies of this round's pending uploads (`/user_homes/r<round>/`) and its acknowledged changes are intact.
 * (Earlier rounds were checked in theirs, and all of them are checked once more at the end: reading every body
 * after every kill would make the test's work grow with the square of the rounds.)
 */
async function verifyOnDisk(journal: string, acked: Acknowledged[], round: number): Promise<number> {
  let pendingUploads = 0;
  for (const lane of await readdir(join(journal, JOURNAL_DIR))) {
    for (const id of await readdir(join(journal, JOURNAL_DIR, lane))) {
      const dir = join(journal, JOURNAL_DIR, lane, id);
      const xml = await readFile(join(dir, 'config.XML')).catch(() => undefined);
      if (!xml) continue; // invisible, cleared at the next open
      const entry = decodeEntry(xml); // a visible config.XML is always complete
      if (entry.action === 'upload' && entry.status === 'PENDING' && entry.path.startsWith(`/user_homes/r${round}/`)) {
        pendingUploads += 1;
        const body = await readFile(join(dir, 'upload'));
        expect(body.length, `${dir} body size`).toBe(entry.size);
        expect(sha(body), `${dir} body checksum`).toBe(entry.sha256);
      }
    }
  }
  for (const change of acked) {
    for (const lane of LANES) {
      const dir = join(journal, JOURNAL_DIR, lane, change.id);
      const entry = decodeEntry(await readFile(join(dir, 'config.XML')));
      expect(entry.status, `${change.path} in lane ${lane}`).toBe('PENDING');
      expect(entry.path).toBe(change.path);
      if (change.action === 'upload') expect(sha(await readFile(join(dir, 'upload')))).toBe(change.sha256);
    }
  }
  return pendingUploads;
}

describe('crash safety of ingestion', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    tmp = await tempDir();
  });
  afterAll(() => tmp.remove());

  it(`loses no acknowledged change across ${KILLS} SIGKILLs at random moments`, async () => {
    const acked: Acknowledged[] = [];
    for (let round = 0; round < KILLS; round++) {
      const child = await spawnTs(CHILD, [tmp.dir, CONFIG]);
      const before = acked.length;
      const workers = Array.from({ length: 6 }, (_, w) => ingestUntilDead(child.ready, w, round, acked));
      // Kill only once changes are flowing (six more acknowledged: a loaded machine starts slowly), at a random
      // moment after that. How much more gets in before the kill depends on the machine and is not counted on.
      await waitFor(async () => acked.length >= before + 6, 60_000);
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 300)));
      child.process.kill('SIGKILL');
      expect((await child.exited).signal).toBe('SIGKILL');
      await Promise.all(workers);
      // Restart's recovery (the write-ahead log re-applied), then the folders as an operator sees them.
      const recovered = await FsJournalStore.open(tmp.dir);
      await recovered.close();
      await verifyOnDisk(tmp.dir, acked.slice(before), round);
    }
    expect(acked.length).toBeGreaterThanOrEqual(KILLS * 6);
    console.info(`crash-ingest: ${acked.length} acknowledged changes across ${KILLS} kills`);

    // A restarted relay (recovery included) lists every acknowledged change, nothing half-written as PENDING.
    const store = await FsJournalStore.open(tmp.dir);
    for (const lane of LANES) {
      const pending = new Set((await store.list(lane)).filter((e) => e.status === 'PENDING').map((e) => e.id));
      for (const change of acked) expect(pending.has(change.id)).toBe(true);
      for (const e of await store.list(lane)) {
        if (e.status === 'PENDING' && e.action === 'upload') expect((await store.bodyDigest(e))?.sha256).toBe(e.sha256);
      }
    }
    await store.close();
    // And every acknowledged change of every round, straight from disk once more.
    await verifyOnDisk(tmp.dir, acked, -1);
  }, 300_000);
});
