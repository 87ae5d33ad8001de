import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FsJournalStore } from '../../src/adapters/fs-journal/store.js';
import { type Logger, silentLogger } from '../../src/core/logger.js';
import { entry } from '../support/journal-conformance.js';
import { ADMIN_TOKEN, auth, jsonHeaders, NODE_A_TOKEN, startTestRelay } from '../support/relay.js';
import { tempDir } from '../support/tmp.js';

/** A journal folder holding `count` PENDING makedirs, written by a store that is closed again. */
async function journalWith(count: number) {
  const tmp = await tempDir();
  const store = await FsJournalStore.open(tmp.dir);
  const entries = Array.from({ length: count }, (_, i) => entry({ path: `/user_homes/u${i}` }));
  await store.create(entries);
  await store.close();
  return { tmp, entries };
}

describe('start-up with a journal to load', () => {
  it('answers /livez, and 503 STARTING to everything else (/healthz included) until the journal is loaded', async () => {
    const { tmp } = await journalWith(3);
    let reached!: () => void;
    const atSecondEntry = new Promise<void>((resolve) => (reached = resolve));
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const urls: string[] = [];
    const logger: Logger = {
      ...silentLogger,
      info: (message, fields) => {
        if (message === 'relay loading its journal' && typeof fields?.url === 'string') urls.push(fields.url);
      },
    };
    const starting = startTestRelay(
      { peers: [{ name: 'server2', url: 'http://127.0.0.1:9/' }] }, // a closed port: nothing is replayed anyway
      {
        journal: tmp.dir,
        replay: false,
        logger,
        // Start-up stops after its second entry until the test has looked: no timing involved.
        loadProgress: {
          every: 1,
          report: async (entries) => {
            if (entries !== 2) return;
            reached();
            await held;
          },
        },
      },
    );
    try {
      await atSecondEntry;
      expect(urls).toHaveLength(1);
      const url = urls[0]!;

      // Alive (a liveness check passes), not ready: /healthz keeps meaning that the API takes changes.
      const live = await fetch(`${url}/livez`);
      expect(live.status).toBe(200);
      expect(await live.json()).toEqual({ status: 'alive' });
      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(503);
      expect(health.headers.get('retry-after')).toBe('1');
      expect(await health.json()).toEqual({
        status: 'starting',
        error: { code: 'STARTING', message: 'the relay is loading its journal; retry in a moment' },
      });

      const change = await fetch(`${url}/v1/changes`, {
        method: 'POST',
        headers: jsonHeaders(NODE_A_TOKEN),
        body: JSON.stringify({ action: 'makedir', path: '/user_homes/new' }),
      });
      expect(change.status).toBe(503);
      expect(change.headers.get('retry-after')).toBe('1');
      expect(await change.json()).toEqual({
        error: { code: 'STARTING', message: 'the relay is loading its journal; retry in a moment' },
      });
      // The Node server's own routes (one-request uploads) wait too: the stand-in answers everything, and a client
      // still sending a body gets the answer, not a reset connection.
      const size = 4 * 1024 * 1024;
      const upload = await fetch(`${url}/v1/uploads?path=/user_homes/f&size=${size}`, {
        method: 'POST',
        headers: auth(NODE_A_TOKEN),
        body: Buffer.alloc(size, 1),
      });
      expect(upload.status).toBe(503);
      expect(upload.headers.get('retry-after')).toBe('1');
      expect((await fetch(`${url}/v1/peers`, { headers: auth(ADMIN_TOKEN) })).status).toBe(503);
    } finally {
      release();
    }
    const relay = await starting;
    try {
      expect(relay.url).toBe(urls[0]);
      const health = await fetch(`${relay.url}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok' });
      expect(await (await fetch(`${relay.url}/livez`)).json()).toEqual({ status: 'alive' });
      // Nothing was journaled while starting; the three entries are all there, and changes are taken again.
      const listed = await fetch(`${relay.url}/v1/changes?limit=10`, { headers: auth(ADMIN_TOKEN) });
      const { items } = (await listed.json()) as { items: { path: string }[] };
      expect(items.map((i) => i.path)).toEqual(['/user_homes/u0', '/user_homes/u1', '/user_homes/u2']);
      const change = await fetch(`${relay.url}/v1/changes`, {
        method: 'POST',
        headers: jsonHeaders(NODE_A_TOKEN),
        body: JSON.stringify({ action: 'makedir', path: '/user_homes/new' }),
      });
      expect(change.status).toBe(202);
      expect(await change.json()).toMatchObject({ status: 'PENDING' });
    } finally {
      await relay.close();
      await tmp.remove();
    }
  });

  it('lets the event loop run while it reads a long lane', async () => {
    const { tmp } = await journalWith(2_100);
    let ranAt: number | undefined;
    let seen = 0;
    const store = await FsJournalStore.open(tmp.dir, () => {}, {
      onLoadProgress: {
        every: 1,
        report: (entries) => {
          seen = entries;
          // Scheduled while the first entries are read: it runs only if reading lets the event loop turn.
          if (entries === 1) setImmediate(() => (ranAt ??= seen));
        },
      },
    });
    try {
      expect(seen).toBe(2_100);
      expect(ranAt).toBeDefined();
      expect(ranAt).toBeLessThan(2_100);
    } finally {
      await store.close();
      await tmp.remove();
    }
  });

  it('a second relay on the same journal is told who holds it, before it listens', async () => {
    const first = await startTestRelay({}, { replay: false });
    try {
      const port = Number(new URL(first.url).port);
      await expect(
        startTestRelay({ listen: { host: '127.0.0.1', port } }, { journal: first.journal, replay: false }),
      ).rejects.toMatchObject({ code: 'JOURNAL_LOCKED' });
      // The first is untouched.
      expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
    } finally {
      await first.close();
    }
  });

  it('closes what it opened when start-up fails after the load: the port and the journal are free', async () => {
    const { tmp } = await journalWith(1);
    // A job record nobody can read: the job runner's start, after the API took over, fails.
    await mkdir(join(tmp.dir, 'jobs', '20261207T000000000Z-000000-abcdef'), { recursive: true });
    await writeFile(join(tmp.dir, 'jobs', '20261207T000000000Z-000000-abcdef', 'job.json'), '{ torn');
    const urls: string[] = [];
    const logger: Logger = {
      ...silentLogger,
      info: (message, fields) => {
        if (message === 'relay loading its journal' && typeof fields?.url === 'string') urls.push(fields.url);
      },
    };
    try {
      const failed = startTestRelay({}, { journal: tmp.dir, replay: false, logger });
      await expect(failed).rejects.toThrow(/job\.json is not a job record .*: repair or remove that job's folder/);
      await expect(failed).rejects.toMatchObject({ code: 'JOB_RECORD_UNREADABLE' });
      expect(urls).toHaveLength(1);
      await expect(fetch(`${urls[0]}/healthz`)).rejects.toThrow(); // nothing listens there any more
      const store = await FsJournalStore.open(tmp.dir); // the lock was released
      expect(await store.newestId()).toBeDefined();
      await store.close();
    } finally {
      await tmp.remove();
    }
  });

  it('does not load the journal when its port is taken', async () => {
    const first = await startTestRelay({}, { replay: false });
    const { tmp } = await journalWith(1);
    let loaded = 0;
    try {
      const port = Number(new URL(first.url).port);
      await expect(
        startTestRelay(
          { listen: { host: '127.0.0.1', port } },
          {
            journal: tmp.dir,
            replay: false,
            loadProgress: {
              every: 1,
              report: () => {
                loaded += 1;
              },
            },
          },
        ),
      ).rejects.toThrow(/EADDRINUSE/);
      expect(loaded).toBe(0);
      // The journal was not opened: its lock is free.
      const store = await FsJournalStore.open(tmp.dir);
      await store.close();
    } finally {
      await first.close();
      await tmp.remove();
    }
  });
});
