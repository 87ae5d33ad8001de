import { describe, expect, it, vi } from 'vitest';
import type { JournalEntry } from '../../src/core/entry.js';
import type { Difference, Job } from '../../src/core/jobs/job.js';
import { JobRunner } from '../../src/core/jobs/job-runner.js';
import type { JobStore } from '../../src/core/jobs/job-store.js';
import { JobScope } from '../../src/core/jobs/scope.js';
import type { TreeItem, TreeReader } from '../../src/core/jobs/tree.js';
import type { JournalStore } from '../../src/core/journal.js';
import { silentLogger } from '../../src/core/logger.js';
import { StampClock } from '../../src/core/stamp.js';

/** A promise and the function that settles it. */
function signal<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

class MemoryJobs implements JobStore {
  readonly jobs = new Map<string, Job>();
  /** Set: the next save waits for it (and tells `saving` it started). */
  hold: { saving: { resolve: () => void }; release: Promise<void> } | undefined;
  async save(job: Job) {
    const hold = this.hold;
    this.hold = undefined;
    if (hold) {
      hold.saving.resolve();
      await hold.release;
    }
    this.jobs.set(job.id, structuredClone(job));
  }
  async read(id: string) {
    const job = this.jobs.get(id);
    return job && structuredClone(job);
  }
  async ids() {
    return [...this.jobs.keys()].sort().reverse();
  }
  /** Set: the next differences write fails (a full disk, say). */
  failDifferences = false;
  async writeDifferences(_id: string, _index: number, _items: readonly Difference[]) {
    if (this.failDifferences) {
      this.failDifferences = false;
      throw new Error('ENOSPC: no space left on device');
    }
  }
  async readDifferences() {
    return [];
  }
  async remove(id: string) {
    this.jobs.delete(id);
  }
}

/** The part of the journal the runner uses; `created` settles with the first entry journaled. */
class MemoryJournal {
  entries: JournalEntry[] = [];
  readonly created = signal<JournalEntry>();
  async create(entries: readonly JournalEntry[]) {
    this.entries.push(...entries);
    if (entries[0]) this.created.resolve(entries[0]);
  }
  async lanes() {
    return [...new Set(this.entries.map((e) => e.lane))];
  }
  async list(lane: string) {
    return this.entries.filter((e) => e.lane === lane);
  }
  async scan() {}
  async read(ref: { lane: string; id: string }) {
    return this.entries.find((e) => e.lane === ref.lane && e.id === ref.id);
  }
  async update(entry: JournalEntry) {
    this.entries = this.entries.map((e) => (e.lane === entry.lane && e.id === entry.id ? entry : e));
  }
  async purge(ref: { lane: string; id: string }) {
    this.entries = this.entries.filter((e) => !(e.lane === ref.lane && e.id === ref.id));
  }
}

/** A tree with one folder; its listing waits for `gate` when given one. */
function tree(name: string, items: TreeItem[], gate?: Promise<void>): TreeReader {
  return {
    name,
    async stat() {
      return undefined;
    },
    async list(path) {
      await gate;
      return path === '/loc' ? items : [];
    },
    async checksum() {
      return '';
    },
    async close() {},
  };
}

function runner(
  jobs: MemoryJobs,
  journal: MemoryJournal,
  source: TreeReader,
  peer: TreeReader,
  rung: JournalEntry[] = [],
) {
  const clock = new StampClock();
  return new JobRunner({
    jobs,
    store: journal as unknown as JournalStore,
    doorbell: {
      ring: async (refs) => {
        rung.push(...(refs as JournalEntry[]));
      },
    },
    readers: new Map([
      ['primary', source],
      ['server2', peer],
    ]),
    peers: ['server2'],
    scope: new JobScope([{ path: '/loc', replicate: true }]),
    nextId: () => clock.next(),
    logger: silentLogger,
  });
}

const file = (name: string, size: number, etag: string): TreeItem => ({ name, type: 'file', size, etag });

describe('JobRunner', () => {
  it('records a live change that arrives while a new resync is being saved', async () => {
    const jobs = new MemoryJobs();
    const journal = new MemoryJournal();
    const release = signal();
    const saving = signal();
    jobs.hold = { saving, release: release.promise };
    const r = runner(
      jobs,
      journal,
      tree('primary', [file('p.txt', 3, '"s"')]),
      tree('server2', [file('p.txt', 4, '"p"')]),
    );
    try {
      const created = r.create('resync', 'server2', { from: 'primary', path: '/loc' });
      await saving.promise; // planned, started, not saved yet
      await r.recordTouch({ action: 'upload', path: '/loc/p.txt' }); // a live change to the file meanwhile
      release.resolve();
      const view = await created;
      // The walk finds p.txt different; either it leaves the file alone (the live change is newer than its view)
      // and finishes, or it journals a copy over it.
      const outcome = await Promise.race([
        journal.created.promise.then((entry) => `copied ${entry.path}`),
        vi
          .waitFor(async () => expect((await r.get(view.id)).status).not.toBe('RUNNING'), { timeout: 20_000 })
          .then(() => 'finished'),
      ]);
      expect(outcome).toBe('finished');
      expect(journal.entries).toEqual([]);
      expect((await r.get(view.id)).status).toBe('DONE');
    } finally {
      await r.close();
    }
  });

  it("puts a held removal back to PENDING as soon as a live change touches its path (not at the job's next count)", async () => {
    const jobs = new MemoryJobs();
    const journal = new MemoryJournal();
    const rung: JournalEntry[] = [];
    const r = runner(jobs, journal, tree('primary', []), tree('server2', [file('x.txt', 1, '"x"')]), rung);
    try {
      await r.create('resync', 'server2', { from: 'primary', path: '/loc', delete: true });
      const removal = await journal.created.promise;
      expect(removal).toMatchObject({ action: 'delete', path: '/loc/x.txt' });
      // The replay's folder rule holds it: the job is told first, then the entry is written HELD.
      await r.record(removal, { kind: 'held', reason: 'delete guard: too many' });
      await journal.update({ ...removal, status: 'HELD', hold: 'folder' });
      rung.length = 0;
      // A makedir or mdtm of the folder touches the folder, not the file in it: the job would still send the
      // removal, so it stays held.
      await r.recordTouch({ action: 'mdtm', path: '/loc' });
      expect(journal.entries[0]).toMatchObject({ status: 'HELD' });
      expect(await r.refuse(journal.entries[0]!)).toBeUndefined();
      await r.recordTouch({ action: 'makedir', path: '/loc/x.txt' });
      const [after] = journal.entries;
      expect(after).toMatchObject({ id: removal.id, status: 'PENDING' });
      expect(after!.hold).toBeUndefined();
      expect(rung.map((e) => e.id)).toEqual([removal.id]);
      // At replay the job answers for it: skipped, a live change touched the path.
      expect(await r.refuse(after!)).toEqual({ drop: false, reason: expect.stringContaining('live change') });
    } finally {
      await r.close();
    }
  });

  it('ends FAILED, with the reason, a job that stopped unexpectedly (its differences could not be written)', async () => {
    const jobs = new MemoryJobs();
    jobs.failDifferences = true;
    const journal = new MemoryJournal();
    const r = runner(jobs, journal, tree('primary', [file('p.txt', 3, '"s"')]), tree('server2', []));
    try {
      const view = await r.create('verify', 'server2', { from: 'primary', path: '/loc' });
      await vi.waitFor(async () => expect((await r.get(view.id)).status).not.toBe('RUNNING'), { timeout: 20_000 });
      expect(await r.get(view.id)).toMatchObject({
        status: 'FAILED',
        error: 'the job stopped unexpectedly: ENOSPC: no space left on device',
      });
      expect((await jobs.read(view.id))?.status).toBe('FAILED');
    } finally {
      await r.close();
    }
  });

  it('refuses a second resync of a peer while the first is still being saved', async () => {
    const jobs = new MemoryJobs();
    const journal = new MemoryJournal();
    const release = signal();
    const saving = signal();
    jobs.hold = { saving, release: release.promise };
    const r = runner(jobs, journal, tree('primary', []), tree('server2', []));
    try {
      const first = r.create('resync', 'server2', { from: 'primary', path: '/loc' });
      await saving.promise;
      await expect(r.create('resync', 'server2', { from: 'primary', path: '/loc' })).rejects.toMatchObject({
        code: 'JOB_RUNNING',
      });
      release.resolve();
      await first;
    } finally {
      await r.close();
    }
  });

  it('leaves alone, at start-up, a job created since this process started', async () => {
    // The API may take requests before the runner's start() (embedded start-up serves it only after, but the
    // runner must not rely on that): a job it runs is not one a restart interrupted.
    const jobs = new MemoryJobs();
    const journal = new MemoryJournal();
    const listing = signal();
    const r = runner(jobs, journal, tree('primary', [file('p.txt', 3, '"s"')], listing.promise), tree('server2', []));
    try {
      const view = await r.create('resync', 'server2', { from: 'primary', path: '/loc' });
      await r.start();
      expect((await jobs.read(view.id))?.status).toBe('RUNNING');
      expect((await r.get(view.id)).status).toBe('RUNNING');
    } finally {
      listing.resolve();
      await r.close();
    }
  });
});
