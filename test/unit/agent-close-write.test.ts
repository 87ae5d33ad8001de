import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { closeSignal } from '../../src/agent/close-write.js';
import { StabilityTracker } from '../../src/agent/stability.js';
import { statRelative } from '../../src/agent/watcher.js';
import { waitFor } from '../support/node-client.js';
import { tempDir } from '../support/tmp.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function rig() {
  const tmp = await tempDir('vfs-relay-close-');
  cleanups.push(tmp.remove);
  const signal = await closeSignal((error) => {
    throw error;
  });
  if (!signal) throw new Error('no close signal here');
  cleanups.push(() => signal.close());
  return { dir: tmp.dir, signal };
}

// Linux with the optional koffi module (npm ci installs it); where it is missing the agent waits for stillness
// instead, and these tests have nothing to test.
const available = await closeSignal();
available?.close();
describe.runIf(available !== undefined)('the close-after-write signal (inotify)', () => {
  it('says a file is done once every writer closed it, and not while one holds it open', async () => {
    const { dir, signal } = await rig();
    const file = join(dir, 'upload.bin');
    signal.retain(file); // the folder is watched before the file is made

    const writer = await open(file, 'w');
    await writer.write(Buffer.alloc(1024, 1));
    expect(signal.closedAfterWrite(file)).toBe(false);
    const second = await open(file, 'a'); // a second writer, as an FTP resume may be
    await writer.close();
    expect(signal.closedAfterWrite(file)).toBe(false);
    await second.write(Buffer.alloc(1024, 2));
    await second.close();
    expect(signal.closedAfterWrite(file)).toBe(true);

    const again = await open(file, 'a'); // written again: open until it is closed
    expect(signal.closedAfterWrite(file)).toBe(false);
    await again.close();
    expect(signal.closedAfterWrite(file)).toBe(true);
  });

  it('proves nothing about a file made before its folder was watched (opens may have gone unseen)', async () => {
    const { dir, signal } = await rig();
    await writeFile(join(dir, 'old.bin'), 'made before');
    signal.retain(join(dir, 'old.bin'));
    const handle = await open(join(dir, 'old.bin'), 'a');
    await handle.write('more');
    await handle.close();
    expect(signal.closedAfterWrite(join(dir, 'old.bin'))).toBe(false);
    expect(signal.closedAfterWrite(join(dir, 'never-seen.bin'))).toBe(false);
  });

  it('lets the stability tracker take a closed file without the wait, and never one still open for writing', async () => {
    const { dir, signal } = await rig();
    const stable: string[] = [];
    const tracker = new StabilityTracker({
      stat: (rel) => statRelative(dir, rel),
      stabilityMs: 10 * 60_000, // the wait alone would not end within the test
      pollMs: 20,
      onStable: (rel) => stable.push(rel),
      onError: (error) => {
        throw error;
      },
      closes: {
        retain: (rel) => signal.retain(join(dir, rel)),
        release: (rel) => signal.release(join(dir, rel)),
        closedAfterWrite: (rel) => signal.closedAfterWrite(join(dir, rel)),
      },
    });
    cleanups.push(() => void tracker.drain());
    signal.retain(join(dir, 'first.bin')); // a file tracked in this folder before: its watch is in place

    const writer = await open(join(dir, 'big.bin'), 'w');
    await writer.write(Buffer.alloc(64 * 1024, 7));
    tracker.track('big.bin');
    await writeFile(join(dir, 'small.bin'), 'written and closed');
    tracker.track('small.bin');
    await waitFor(
      async () => stable.includes('small.bin'),
      10_000,
      () => JSON.stringify(stable),
    );
    expect(stable).toEqual(['small.bin']); // big.bin is still open for writing
    await writer.write(Buffer.alloc(64 * 1024, 8));
    await writer.close();
    await waitFor(
      async () => stable.includes('big.bin'),
      10_000,
      () => JSON.stringify(stable),
    );
    expect(tracker.size).toBe(0);
  });
});
