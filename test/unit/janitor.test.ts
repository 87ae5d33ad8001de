import { existsSync, readdirSync, readFileSync, watch } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { IO_THREAD_NAME } from '../../src/adapters/fs-journal/io-thread-name.js';
import { FolderJanitor } from '../../src/adapters/fs-journal/janitor.js';
import { tempDir } from '../support/tmp.js';

describe('FolderJanitor', () => {
  const closing: FolderJanitor[] = [];
  const temps: { remove: () => Promise<void> }[] = [];
  afterEach(async () => {
    vi.useRealTimers();
    vi.restoreAllMocks();
    await Promise.all(closing.splice(0).map((j) => j.close()));
    await Promise.all(temps.splice(0).map((t) => t.remove()));
  });

  async function folder(): Promise<string> {
    const tmp = await tempDir('vfs-relay-janitor-');
    temps.push(tmp);
    return tmp.dir;
  }

  async function entryFolder(root: string, name: string, extra: string[] = []): Promise<string> {
    const dir = join(root, name);
    await mkdir(dir, { recursive: true });
    for (const file of ['config.XML', 'upload', ...extra]) await writeFile(join(dir, file), file);
    return dir;
  }

  /** A janitor, entry folders named `names`, its messages watched and its timers faked (setImmediate stays real). */
  async function batching(names: string[]) {
    const root = await folder();
    const janitor = new FolderJanitor(['config.XML', 'upload']);
    closing.push(janitor);
    const dirs = await Promise.all(names.map((n) => entryFolder(root, n)));
    const sent = vi.spyOn(Worker.prototype, 'postMessage');
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    return { root, janitor, dirs, sent };
  }

  it('removes many folders asked for at once, and a missing folder is not an error', async () => {
    const root = await folder();
    const janitor = new FolderJanitor(['config.XML', 'upload']);
    closing.push(janitor);
    const dirs = await Promise.all(Array.from({ length: 50 }, (_, i) => entryFolder(root, `e${i}`)));
    expect(janitor.behind).toBe(0);
    const removals = [...dirs.map((d) => janitor.remove(d)), janitor.remove(join(root, 'never-there'))];
    expect(janitor.behind).toBe(51); // asked for, not done: what a purge that does not wait for it looks at
    await Promise.all(removals);
    expect(janitor.behind).toBe(0);
    for (const dir of dirs) expect(existsSync(dir)).toBe(false);
  });

  it('sends removals asked for in separate turns within 10 ms in one message, and sooner with a write', async () => {
    const { root, janitor, dirs, sent } = await batching(['a', 'b', 'c', 'd']);
    const turn = () => new Promise((r) => setImmediate(r));
    const first = [janitor.remove(dirs[0]!)];
    await turn();
    vi.advanceTimersByTime(5);
    first.push(janitor.remove(dirs[1]!));
    await turn();
    expect(sent).not.toHaveBeenCalled(); // a drain's purges come one per turn: they wait for company
    vi.advanceTimersByTime(5); // 10 ms after the first
    await Promise.all(first);
    expect(sent).toHaveBeenCalledTimes(1);
    expect(sent.mock.calls[0]![0]).toMatchObject({ ops: [{ remove: dirs[0] }, { remove: dirs[1] }] });
    // A write does not wait: it takes the removal queued before it along, at the end of the turn.
    const removed = janitor.remove(dirs[2]!);
    const written = janitor.write({ dir: join(root, 'new'), files: [{ name: 'config.XML', data: 'x' }] });
    await Promise.all([removed, written]);
    expect(sent).toHaveBeenCalledTimes(2);
    for (const dir of dirs.slice(0, 3)) expect(existsSync(dir)).toBe(false);
    expect(existsSync(dirs[3]!)).toBe(true);
  });

  it('sends a removal its caller waits for at the end of the turn, with those waiting for the timer', async () => {
    const { janitor, dirs, sent } = await batching(['a', 'b']);
    const lazy = janitor.remove(dirs[0]!);
    await janitor.remove(dirs[1]!, { awaited: true }); // no timer advanced
    await lazy;
    expect(sent).toHaveBeenCalledTimes(1);
    for (const dir of dirs) expect(existsSync(dir)).toBe(false);
  });

  it('sends 64 removals at once without waiting for the timer', async () => {
    const { janitor, dirs, sent } = await batching(Array.from({ length: 64 }, (_, i) => `e${i}`));
    await Promise.all(dirs.map((d) => janitor.remove(d))); // no timer advanced: the 64th sends them
    expect(sent).toHaveBeenCalledTimes(1);
    for (const dir of dirs) expect(existsSync(dir)).toBe(false);
  });

  it.runIf(process.platform === 'linux')('names its thread, so that top -H and ps -L show it', async () => {
    const janitor = new FolderJanitor(['config.XML', 'upload']);
    closing.push(janitor);
    await janitor.remove(join(await folder(), 'never-there')); // the thread is up and has run a batch
    const names = readdirSync('/proc/self/task').map((tid) => {
      try {
        return readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      } catch {
        return ''; // a thread that ended meanwhile
      }
    });
    expect(names).toContain(IO_THREAD_NAME);
    expect(IO_THREAD_NAME.length).toBeLessThanOrEqual(15); // the kernel's limit
  });

  it('removes the leftovers of an interrupted write with the folder', async () => {
    const root = await folder();
    const janitor = new FolderJanitor(['config.XML', 'upload']);
    closing.push(janitor);
    const dir = await entryFolder(root, 'e', ['config.XML.tmp-1-abc']);
    await janitor.remove(dir);
    expect(existsSync(dir)).toBe(false);
  });

  it('reports a folder it cannot remove, and keeps working for the others', async () => {
    const root = await folder();
    const janitor = new FolderJanitor(['config.XML', 'upload']);
    closing.push(janitor);
    const file = join(root, 'a-file');
    await writeFile(file, 'not a folder');
    const ok = await entryFolder(root, 'ok');
    const results = await Promise.allSettled([janitor.remove(join(file, 'below')), janitor.remove(ok)]);
    expect(results[0]).toMatchObject({ status: 'rejected', reason: { message: expect.stringMatching(/ENOTDIR/) } });
    expect(results[1].status).toBe('fulfilled');
    expect(existsSync(ok)).toBe(false);
  });

  it('finishes what was asked before close, then refuses more', async () => {
    const root = await folder();
    const janitor = new FolderJanitor(['config.XML', 'upload']);
    const dirs = await Promise.all(Array.from({ length: 20 }, (_, i) => entryFolder(root, `e${i}`)));
    const removals = dirs.map((d) => janitor.remove(d));
    await janitor.close();
    await Promise.all(removals);
    for (const dir of dirs) expect(existsSync(dir)).toBe(false);
    await expect(janitor.remove(join(root, 'later'))).rejects.toThrow(/closed/);
  });

  it('copies a body from a slice of another file, and fails a slice that runs past its end', async () => {
    const root = await folder();
    const janitor = new FolderJanitor(['config.XML', 'upload']);
    closing.push(janitor);
    const log = join(root, 'segment.wal');
    const body = Buffer.alloc(300 * 1024).map((_, i) => i % 251); // more than the thread's copy buffer
    await writeFile(log, Buffer.concat([Buffer.from('header'), body, Buffer.from('next record')]));
    const dir = join(root, 'e');
    await janitor.write({
      dir,
      files: [
        { name: 'upload', from: { file: log, offset: 6, length: body.length } },
        { name: 'config.XML', data: '<entry/>' },
      ],
    });
    expect((await readFile(join(dir, 'upload'))).equals(body)).toBe(true);
    const short = janitor.write({
      dir: join(root, 'short'),
      files: [{ name: 'upload', from: { file: log, offset: 6, length: body.length + 100 } }],
    });
    await expect(short).rejects.toThrow(/ends before byte/);
  });

  describe('held writes', () => {
    const write = (dir: string) => ({
      dir,
      files: [
        { name: 'upload', data: new Uint8Array([1, 2, 3]) },
        { name: 'config.XML', data: '<entry/>' },
      ],
    });

    it('writes a held folder once its time is up', async () => {
      const root = await folder();
      const janitor = new FolderJanitor(['config.XML', 'upload']);
      closing.push(janitor);
      const dir = join(root, 'held');
      const started = Date.now();
      const written = janitor.write(write(dir), { holdMs: 300 });
      await new Promise((r) => setTimeout(r, 50));
      // Only meaningful while the hold lasts: a machine that paused this test past it proves nothing either way.
      if (Date.now() - started < 250) expect(existsSync(dir)).toBe(false);
      await written;
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      expect(await readFile(join(dir, 'upload'))).toEqual(Buffer.from([1, 2, 3]));
      expect(await readFile(join(dir, 'config.XML'), 'utf8')).toBe('<entry/>');
    });

    it("copies the bytes for the thread and leaves the caller's own untouched", async () => {
      const root = await folder();
      const janitor = new FolderJanitor(['config.XML', 'upload']);
      closing.push(janitor);
      const pooled = Buffer.from('shared pool bytes'); // a view into Node's shared allocation pool
      const body = pooled.subarray(7, 11);
      await janitor.write({ dir: join(root, 'e'), files: [{ name: 'upload', data: body }] }, { holdMs: 10 });
      expect(await readFile(join(root, 'e', 'upload'), 'utf8')).toBe('pool');
      expect(pooled.toString()).toBe('shared pool bytes');
      expect(body.buffer.byteLength).toBeGreaterThan(0); // not moved away (detached)
    });

    it('drops a held folder removed before its time, and still clears what was there', async () => {
      const root = await folder();
      const janitor = new FolderJanitor(['config.XML', 'upload']);
      closing.push(janitor);
      const fresh = join(root, 'fresh');
      const bare = join(root, 'bare');
      await mkdir(bare); // an upload in three steps leaves an empty folder until its commit
      const kept = join(root, 'kept');
      const seen = new Set<string>();
      const watcher = watch(root, (_event, name) => seen.add(String(name)));
      try {
        // Held far longer than the test runs: the removes come first however slow the machine, and `kept` is
        // written when released.
        const writes = [fresh, bare, kept].map((dir) => janitor.write(write(dir), { holdMs: 60_000 }));
        await Promise.all([janitor.remove(fresh), janitor.remove(bare)]);
        janitor.release(kept);
        await Promise.all(writes);
        // A barrier, not a pause: events come in the order things happened, so once the marker made last is seen,
        // anything done under `fresh` would have been seen too.
        await mkdir(join(root, 'marker'));
        await vi.waitFor(() => expect(seen).toContain('marker'), { timeout: 10_000, interval: 10 });
      } finally {
        watcher.close();
      }
      expect(seen).toContain('kept');
      expect(seen).not.toContain('fresh'); // never made: nothing happened on disk under that name
      expect(existsSync(fresh)).toBe(false);
      expect(existsSync(bare)).toBe(false);
      expect(existsSync(join(kept, 'config.XML'))).toBe(true);
    });

    it('writes held folders at once on release and on close', async () => {
      const root = await folder();
      const janitor = new FolderJanitor(['config.XML', 'upload']);
      const [a, b, c] = ['a', 'b', 'c'].map((n) => join(root, n)) as [string, string, string];
      const writes = [a, b, c].map((dir) => janitor.write(write(dir), { holdMs: 60_000 }));
      janitor.release(a);
      await writes[0];
      expect(existsSync(join(a, 'config.XML'))).toBe(true);
      expect(existsSync(b)).toBe(false);
      await janitor.close();
      await Promise.all(writes);
      for (const dir of [b, c]) expect(existsSync(join(dir, 'config.XML'))).toBe(true);
    });

    it('sends the writes that fell due close together to the thread in one message', async () => {
      const root = await folder();
      const janitor = new FolderJanitor(['config.XML', 'upload']);
      closing.push(janitor);
      const sent = vi.spyOn(Worker.prototype, 'postMessage');
      // The janitor's clock and timers only: the thread's answers and setImmediate stay real.
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
      // A millisecond at a time, letting the janitor send whatever it queued (setImmediate) after each.
      const advance = async (ms: number) => {
        for (let i = 0; i < ms; i++) {
          vi.advanceTimersByTime(1);
          await new Promise((r) => setImmediate(r));
        }
      };
      try {
        const dirs = ['a', 'b', 'c', 'd'].map((n) => join(root, n));
        const writes: Promise<void>[] = [];
        for (const dir of dirs.slice(0, 3)) {
          writes.push(janitor.write(write(dir), { holdMs: 500 }));
          await advance(10); // due at 500, 510, 520 ms
        }
        writes.push(janitor.write(write(dirs[3]!), { holdMs: 500 })); // due at 530 ms
        await advance(499 - 30);
        expect(sent).not.toHaveBeenCalled(); // none due yet
        await advance(30); // 529 ms: the first three are due, the fourth is not
        await Promise.all(writes.slice(0, 3));
        expect(sent).toHaveBeenCalledTimes(1);
        expect(existsSync(dirs[3]!)).toBe(false);
        await advance(60);
        await writes[3];
        expect(sent).toHaveBeenCalledTimes(2);
        for (const dir of dirs) expect(existsSync(join(dir, 'config.XML'))).toBe(true);
      } finally {
        vi.useRealTimers();
        sent.mockRestore();
      }
    });

    it('keeps the order of two writes of one folder', async () => {
      const root = await folder();
      const janitor = new FolderJanitor(['config.XML', 'upload']);
      closing.push(janitor);
      const dir = join(root, 'twice');
      const first = janitor.write(write(dir), { holdMs: 60_000 });
      const second = janitor.write({ dir, files: [{ name: 'config.XML', data: '<second/>' }] });
      await Promise.all([first, second]);
      expect(await readFile(join(dir, 'config.XML'), 'utf8')).toBe('<second/>');
    });
  });
});
