import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../src/adapters/durable-files/group-commit.js';
import { replaceFile, throughTemporaryName } from '../../src/adapters/durable-files/replace-file.js';
import { tempDir } from '../support/tmp.js';

/** A promise and the functions that settle it, for runs the test finishes when it wants to. */
function gate() {
  let open!: () => void;
  let fail!: (error: Error) => void;
  const promise = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { promise, open, fail };
}

describe('GroupCommit', () => {
  it('runs once for a caller alone, and once more for every caller that arrived during that run', async () => {
    const runs: ReturnType<typeof gate>[] = [];
    const commit = new GroupCommit(() => {
      const run = gate();
      runs.push(run);
      return run.promise;
    });
    const first = commit.request();
    await Promise.resolve(); // the run starts a microtask later
    await Promise.resolve();
    expect(runs).toHaveLength(1);
    const joiners = [commit.request(), commit.request(), commit.request()];
    expect(new Set(joiners).size).toBe(1); // they share one round
    runs[0]!.open();
    await first;
    await settledWhen(() => runs.length === 2);
    runs[1]!.open();
    await Promise.all(joiners);
    expect(runs).toHaveLength(2);
    expect(commit.idle).toBe(true);
  });

  it('rejects only the callers of a failed run; the next round runs afresh', async () => {
    let calls = 0;
    const commit = new GroupCommit(async () => {
      calls += 1;
      if (calls === 1) throw new Error('disk gone');
    });
    await expect(commit.request()).rejects.toThrow('disk gone');
    await expect(commit.request()).resolves.toBeUndefined();
    await commit.settled();
    expect(calls).toBe(2);
  });
});

async function settledWhen(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !condition(); i++) await new Promise((resolve) => setImmediate(resolve));
  expect(condition()).toBe(true);
}

describe('replaceFile', () => {
  it('replaces a file as a whole, 0600, leaving no temporary file behind', async () => {
    const tmp = await tempDir();
    try {
      const file = join(tmp.dir, 'state.json');
      await writeFile(file, 'old');
      await replaceFile(file, 'new');
      expect(await readFile(file, 'utf8')).toBe('new');
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      await replaceFile(file, Buffer.from('newer'), { sync: 'none', temporary: `${file}.tmp` });
      expect(await readFile(file, 'utf8')).toBe('newer');
      expect(await readdir(tmp.dir)).toEqual(['state.json']);
    } finally {
      await tmp.remove();
    }
  });

  it('keeps the old content and removes the temporary file when the write fails', async () => {
    const tmp = await tempDir();
    try {
      const file = join(tmp.dir, 'state.json');
      await writeFile(file, 'old');
      await expect(
        throughTemporaryName(file, async (temporary) => {
          await writeFile(temporary, 'half');
          throw new Error('cut short');
        }),
      ).rejects.toThrow('cut short');
      expect(await readFile(file, 'utf8')).toBe('old');
      expect(await readdir(tmp.dir)).toEqual(['state.json']);
    } finally {
      await tmp.remove();
    }
  });
});
