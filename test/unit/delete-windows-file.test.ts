import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { DeleteGuard } from '../../src/core/delete-guard.js';
import type { Logger } from '../../src/core/logger.js';
import { FileDeleteWindows, parseWindows } from '../../src/runtime/delete-windows-file.js';
import { tempDir } from '../support/tmp.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function windowsFile(): Promise<string> {
  const tmp = await tempDir();
  cleanups.push(() => tmp.remove());
  return join(tmp.dir, 'delete-guard.json');
}

function recordingLogger(lines: string[]): Logger {
  const log = (message: string) => lines.push(message);
  const logger: Logger = { debug: log, info: log, warn: log, error: log, child: () => logger } as unknown as Logger;
  return logger;
}

const settings = { maxDeletes: 3, windowSeconds: 60 };
const at = Date.parse('2026-12-06T10:00:00Z');

it('keeps the windows for the next start: counts go on where they were, a trip is left to the journal', async () => {
  const file = await windowsFile();
  const first = await FileDeleteWindows.open(file, recordingLogger([]));
  const guard = new DeleteGuard(settings, first, () => at);
  expect(await guard.admit('node-a', 2)).toEqual({ pass: 2 });
  expect((await guard.admit('node-b', 5)).tripped).toBe(true);
  await first.flush();

  const second = await FileDeleteWindows.open(file, recordingLogger([]));
  const again = new DeleteGuard(settings, second, () => at + 1000);
  expect(await second.read('node-a')).toEqual({ steps: [[expect.any(Number), 2]] });
  // node-a had 2 of 3: one more passes, the next is held.
  expect(await again.admit('node-a', 2)).toMatchObject({ pass: 1, tripped: true });
  // node-b's trip was not kept (the journal decides it at start); its count was.
  expect(await again.tripped('node-b')).toBe(false);
  expect(await again.admit('node-b')).toMatchObject({ pass: 0 });
});

it('forgets a window an operator cleared, and one whose steps all went', async () => {
  const file = await windowsFile();
  const windows = await FileDeleteWindows.open(file, recordingLogger([]));
  const guard = new DeleteGuard(settings, windows, () => at);
  await guard.admit('node-a');
  await guard.admit('job:1');
  await guard.rearm('node-a');
  await windows.flush();
  expect(Object.keys(JSON.parse(await readFile(file, 'utf8')).windows)).toEqual(['job:1']);
  const reopened = await FileDeleteWindows.open(file, recordingLogger([]));
  expect(await reopened.read('node-a')).toEqual({ steps: [] });
});

it('writes the latest windows once a burst is over, one write at a time', async () => {
  const file = await windowsFile();
  const windows = await FileDeleteWindows.open(file, recordingLogger([]));
  const guard = new DeleteGuard({ maxDeletes: 1000, windowSeconds: 60 }, windows, () => at);
  await Promise.all(Array.from({ length: 200 }, () => guard.admit('node-a')));
  await windows.flush();
  const kept = parseWindows(await readFile(file, 'utf8'));
  expect(kept).toEqual([['node-a', { steps: [[expect.any(Number), 200]] }]]);
});

it('starts empty, with a warning, from a file it cannot read', async () => {
  for (const text of ['not json', '{"version":2,"windows":{}}', '{"version":1,"windows":{"a":{"steps":[[1,-2]]}}}']) {
    const file = await windowsFile();
    await writeFile(file, text);
    const lines: string[] = [];
    const windows = await FileDeleteWindows.open(file, recordingLogger(lines));
    expect(await windows.read('a'), text).toEqual({ steps: [] });
    expect(lines, text).toEqual(['delete guard: the windows file is unreadable; every window starts empty']);
  }
  const lines: string[] = [];
  await FileDeleteWindows.open(await windowsFile(), recordingLogger(lines)); // none yet: a first start
  expect(lines).toEqual([]);
});
