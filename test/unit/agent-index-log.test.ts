import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { FileStat } from '../../src/agent/file-index.js';
import { loadIndex, saveIndex } from '../../src/agent/index-file.js';
import { IndexLog, openIndex } from '../../src/agent/index-log.js';
import { RenameDetector } from '../../src/agent/rename-detector.js';
import { tempDir } from '../support/tmp.js';

let tmp: Awaited<ReturnType<typeof tempDir>>;
let file: string;
beforeEach(async () => {
  tmp = await tempDir();
  file = join(tmp.dir, 'index.json');
});
afterEach(() => tmp.remove());

const stat = (ino: number, size = 1): FileStat => ({
  kind: 'file',
  dev: 7,
  ino,
  size,
  mtimeMs: 1000 + ino,
  birthtimeMs: 5,
});
const dir = (ino: number): FileStat => ({ kind: 'dir', dev: 7, ino, size: 4096, mtimeMs: 9, birthtimeMs: 3 });
const logs = async () => (await readdir(tmp.dir)).filter((n) => n.endsWith('.log')).sort();
const open = () =>
  openIndex(
    file,
    (reason) => reasons.push(reason),
    (error) => errors.push(error),
  );
let reasons: string[] = [];
let errors: unknown[] = [];
beforeEach(() => {
  reasons = [];
  errors = [];
});

/** A log as the agent keeps it: every append waits for `gate` (the outbox) before it is written. */
function recorder(generation: number, gate: () => Promise<unknown> = () => Promise.resolve()) {
  return new IndexLog(
    file,
    generation,
    gate,
    () => true,
    (error) => errors.push(error),
  );
}

it('replays the log on top of index.json, in order, and folds it into a new index.json at the next start', async () => {
  await saveIndex(file, [['a', stat(1)]], 3);
  const log = recorder(3);
  log.start();
  log.record('b', stat(2));
  log.record('a', undefined);
  log.record('d', dir(4));
  log.record('b', stat(2, 99)); // written again
  const next = await log.rotate(); // the batch goes to index.3.log; what follows would go to 4
  expect(next).toBe(4);
  log.record('d', undefined);
  await log.rotate();
  expect(await logs()).toEqual(['index.3.log', 'index.4.log']);

  const opened = await open();
  expect([...opened.previous!]).toEqual([['b', stat(2, 99)]]);
  expect(opened.generation).toBe(5);
  // Folded in: index.json says where the next log starts, the old ones are gone.
  expect(await logs()).toEqual([]);
  const saved = await loadIndex(file);
  expect(saved?.log).toBe(5);
  expect([...saved!.entries]).toEqual([['b', stat(2, 99)]]);
  // Nothing to replay: the next log keeps the number index.json names.
  expect((await open()).generation).toBe(5);
  expect(reasons).toEqual([]);
  expect(errors).toEqual([]);
});

it('writes a batch only once the changes reported before it are in the outbox', async () => {
  await saveIndex(file, [], 1);
  let release!: () => void;
  const durable = new Promise<void>((resolve) => {
    release = resolve;
  });
  const log = recorder(1, () => durable);
  log.start();
  log.record('x', stat(1));
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(await logs()).toEqual([]); // a kill now: the outbox may not have x's change, so the log must not either
  release();
  await log.rotate();
  expect(await readFile(IndexLog.file(file, 1), 'utf8')).toBe('[["s","x",0,7,1,1,1001,5]]\n');
});

// A batch is applied whole or not at all: within one, the state passes through steps the agent was never in (a
// removed file leaves the index before it joins the removals waiting for a pair; found by a review: a crash that
// kept half of such a pair made the next start forget the file, and its delete was never sent).
it('a batch cut short at the end is dropped whole; damage before the end is reported', async () => {
  const p = '["s","p",0,7,1,1,1001,5]';
  await saveIndex(file, [['p', stat(1)]], 1);
  await writeFile(IndexLog.file(file, 1), `[${p.replace('"p"', '"a"')}]\n[["d","p"],${p}]`.slice(0, -12));
  expect([...(await open()).previous!.keys()].sort()).toEqual(['a', 'p']);
  expect(reasons).toEqual([]);

  await saveIndex(file, [], 1);
  await writeFile(IndexLog.file(file, 1), '[["s","a",0,7,1,1,1001,5]]\n{oops}\n[["s","c",0,7,3,1,1003,5]]\n');
  await writeFile(IndexLog.file(file, 2), '[["s","d",0,7,4,1,1004,5]]\n');
  const opened = await open();
  expect([...opened.previous!.keys()]).toEqual(['a']); // up to the damage: a state the agent was in
  expect(opened.damaged).toBe('index.1.log, line 2');
  expect(await logs()).toEqual([]); // folded into index.json: the next log does not start after the damage
});

it('a first start that never saved its state leaves no log behind; an older index.json is folded in at start', async () => {
  await writeFile(IndexLog.file(file, 1), '[["s","a",0,7,1,1,1001,5]]\n');
  expect(await open()).toEqual({ generation: 1 });
  expect(await logs()).toEqual([]);

  await writeFile(file, '{"version":2,"rows":[["a",0,7,1,1,1001,5]]}'); // written by an agent without logs
  const opened = await open();
  expect(opened.generation).toBe(1);
  expect((await loadIndex(file))?.log).toBe(1); // so that this run's log is replayed after a crash
});

it('the rename detector reports every change of what it remembers, with the change it belongs to', async () => {
  const files = new Map<string, FileStat>([['a.txt', stat(1)]]);
  const seen: string[] = [];
  const detector = new RenameDetector({
    stat: async (rel) => files.get(rel),
    emit: (change) => seen.push(`emit ${change.action} ${change.path}${'target' in change ? ` ${change.target}` : ''}`),
    renameWindowMs: 20,
    stabilityMs: 10,
  });
  detector.index.set('a.txt', stat(1));
  detector.observe((path, s) => seen.push(s ? `set ${path}` : `drop ${path}`));
  files.delete('a.txt');
  files.set('b.txt', stat(1));
  detector.push({ type: 'unlink', path: 'a.txt' });
  detector.push({ type: 'add', path: 'b.txt' });
  await detector.handled();
  files.delete('b.txt');
  detector.push({ type: 'unlink', path: 'b.txt' });
  await detector.drain();
  expect(seen).toEqual([
    'drop a.txt', // into the removals waiting for a pair: still remembered
    'set a.txt',
    'drop a.txt', // the pair: a move
    'emit rename a.txt b.txt',
    'set b.txt',
    'drop b.txt',
    'set b.txt',
    'drop b.txt',
    'emit delete b.txt',
  ]);
  // Replayed in this order, the records leave exactly what the detector remembers.
  const state = new Map<string, FileStat>();
  for (const line of seen) {
    const [what, path] = line.split(' ');
    if (what === 'set') state.set(path!, stat(1));
    if (what === 'drop') state.delete(path!);
  }
  expect([...state.keys()]).toEqual(detector.remembered().map(([p]) => p));
});
