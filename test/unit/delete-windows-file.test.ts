import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { DeleteGuard } from '../../src/core/delete-guard.js';
import type { Logger } from '../../src/core/logger.js';
import { FileDeleteWindows, parseWindows } from '../../src/runtime/delete-windows-file.js';
import { tempDir } from '../support/tmp.js';

const at = Date.parse('2026-12-06T10:00:00Z');
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  // Last in, first out: every store's write behind ends before its folder goes (else rm races the write).
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** FileDeleteWindows.open, with the store's pending write awaited at clean-up. */
async function openWindows(file: string, opts: ReturnType<typeof options>): Promise<FileDeleteWindows> {
  const windows = await FileDeleteWindows.open(file, opts);
  cleanups.push(() => windows.flush());
  return windows;
}

async function windowsFile(): Promise<string> {
  const tmp = await tempDir();
  cleanups.push(() => tmp.remove());
  return join(tmp.dir, 'delete-guard.json');
}

function options(lines: string[] = [], now = () => at, windowSeconds = 60) {
  return { settings: { maxDeletes: 3, windowSeconds }, now, logger: recordingLogger(lines) };
}

function recordingLogger(lines: string[]): Logger {
  const log = (message: string) => lines.push(message);
  const logger: Logger = { debug: log, info: log, warn: log, error: log, child: () => logger } as unknown as Logger;
  return logger;
}

const settings = { maxDeletes: 3, windowSeconds: 60 };

it('keeps the windows for the next start: counts go on where they were, a trip is left to the journal', async () => {
  const file = await windowsFile();
  const first = await openWindows(file, options());
  const guard = new DeleteGuard(settings, first, () => at);
  expect(await guard.admit('node-a', 2)).toEqual({ pass: 2 });
  expect((await guard.admit('node-b', 5)).tripped).toBe(true);
  await first.flush();

  const second = await openWindows(file, options());
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
  const windows = await openWindows(file, options());
  const guard = new DeleteGuard(settings, windows, () => at);
  await guard.admit('node-a');
  await guard.admit('job:1');
  await guard.rearm('node-a');
  await windows.flush();
  expect(Object.keys(JSON.parse(await readFile(file, 'utf8')).windows)).toEqual(['job:1']);
  const reopened = await openWindows(file, options());
  expect(await reopened.read('node-a')).toEqual({ steps: [] });
});

it('writes the latest windows once a burst is over, one write at a time', async () => {
  const file = await windowsFile();
  const windows = await openWindows(file, options());
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
    const windows = await openWindows(file, options(lines));
    expect(await windows.read('a'), text).toEqual({ steps: [] });
    expect(lines, text).toEqual(['delete guard: the windows file is unreadable; every window starts empty']);
  }
  const lines: string[] = [];
  await openWindows(await windowsFile(), options(lines)); // none yet: a first start
  expect(lines).toEqual([]);
});

it('keeps only steps that still count: not those the window left, nor those ahead of the clock', async () => {
  const file = await windowsFile();
  const first = await openWindows(file, options());
  const guard = new DeleteGuard(settings, first, () => at);
  await guard.admit('node-a', 3);
  await guard.admit('job:7', 1);
  await first.flush();

  // The clock set back an hour: steps ahead of it hold nothing (before, they held deletes until it caught up).
  const earlier = () => at - 3_600_000;
  const back = await openWindows(file, options([], earlier));
  expect(await new DeleteGuard(settings, back, earlier).admit('node-a', 3)).toEqual({ pass: 3 });
  await back.flush();

  // Another window length with another step length (windows up to 60 s all count in 1 s steps): the old steps do
  // not count.
  for (const windowSeconds of [3600, 600]) {
    const other = { maxDeletes: 3, windowSeconds };
    const reopened = await openWindows(
      file,
      options([], () => at, windowSeconds),
    );
    expect(await new DeleteGuard(other, reopened, () => at).admit('node-a', 3), String(windowSeconds)).toEqual({
      pass: 3,
    });
    await reopened.flush();
  }

  // A day later nothing counts, and the file no longer carries the quiet origins.
  const later = () => at + 86_400_000;
  const dayLater = await openWindows(file, options([], later));
  expect(await dayLater.read('job:7')).toEqual({ steps: [] });
  await new DeleteGuard(settings, dayLater, later).admit('node-b');
  await dayLater.flush();
  expect(Object.keys(JSON.parse(await readFile(file, 'utf8')).windows)).toEqual(['node-b']);
});

it('warns once while the file cannot be written, and keeps counting in memory', async () => {
  const file = await windowsFile();
  await mkdir(file); // a folder where the file should be
  const lines: string[] = [];
  const windows = await openWindows(file, options(lines));
  const guard = new DeleteGuard(settings, windows, () => at);
  for (let i = 0; i < 3; i++) {
    await guard.admit('node-a');
    await windows.flush();
  }
  expect((await guard.admit('node-a')).tripped).toBe(true);
  expect(lines.filter((l) => l.startsWith('delete guard: could not keep the windows'))).toHaveLength(1);
});
