import { describe, expect, it } from 'vitest';
import type { FileStat } from '../../src/agent/file-index.js';
import { StabilityTracker } from '../../src/agent/stability.js';

/** A file whose stat the test moves by hand; counts how often the tracker looked at it. */
function fakeFile(initial: FileStat) {
  let current: FileStat | undefined = initial;
  let stats = 0;
  return {
    stat: async () => {
      stats += 1;
      return current && { ...current };
    },
    write(size: number) {
      current = { ...current!, size, mtimeMs: Date.now() };
    },
    get stats() {
      return stats;
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits (bounded) until `done` holds: timers run late on a loaded machine. */
async function until(done: () => boolean, limitMs = 5_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!done() && Date.now() < deadline) await sleep(10);
}

describe('StabilityTracker', () => {
  it('reports a file written once after the wait, with a handful of samples, not one per poll', async () => {
    const file = fakeFile({ kind: 'file', size: 10, mtimeMs: Date.now(), ino: 1, dev: 1 });
    const stable: number[] = [];
    const started = Date.now();
    const tracker = new StabilityTracker({
      stat: file.stat,
      stabilityMs: 300,
      pollMs: 20,
      onStable: () => stable.push(Date.now() - started),
      onError: (error) => {
        throw error;
      },
    });
    tracker.track('a');
    await until(() => stable.length > 0);
    await sleep(100);
    expect(stable).toHaveLength(1);
    expect(stable[0]).toBeGreaterThanOrEqual(300);
    expect(file.stats).toBeLessThanOrEqual(4); // polling every 20 ms would take 15 or more
  });

  it('waits while the file keeps changing, and reports it once it holds still', async () => {
    const file = fakeFile({ kind: 'file', size: 0, mtimeMs: Date.now(), ino: 1, dev: 1 });
    let stableAt = 0;
    const tracker = new StabilityTracker({
      stat: file.stat,
      stabilityMs: 200,
      pollMs: 20,
      onStable: () => {
        stableAt = Date.now();
      },
      onError: (error) => {
        throw error;
      },
    });
    tracker.track('a');
    let lastWrite = 0;
    for (let i = 1; i <= 8; i++) {
      await sleep(60);
      file.write(i * 100);
      lastWrite = Date.now();
    }
    expect(stableAt).toBe(0); // still being written: never reported
    await until(() => stableAt > 0);
    expect(stableAt - lastWrite).toBeGreaterThanOrEqual(150);
  });
});
