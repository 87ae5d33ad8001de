import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { FileStat } from '../../src/agent/file-index.js';
import { type LocalChange, RenameDetector, topmost, type WatchEvent } from '../../src/agent/rename-detector.js';

const WINDOW = 300;
const STABLE = 500;

/** An in-memory tree with inodes, as lstat would see it. */
class FakeTree {
  readonly nodes = new Map<string, FileStat>();
  private nextIno = 100;

  mkdir(path: string): void {
    const now = Date.now();
    this.nodes.set(path, { kind: 'dir', dev: 1, ino: this.nextIno++, size: 4096, mtimeMs: now, birthtimeMs: now });
  }

  /** Writes a file: a new inode when it did not exist, the same one when it did. */
  write(path: string, size: number): void {
    const old = this.nodes.get(path);
    this.nodes.set(path, { kind: 'file', dev: 1, ino: old?.ino ?? this.nextIno++, size, mtimeMs: Date.now() });
  }

  /** rename(2): the subtree keeps its inodes, size and mtime; whatever was at the target is replaced. */
  mv(from: string, to: string): void {
    this.rm(to);
    for (const [path, stat] of [...this.nodes]) {
      if (path === from || path.startsWith(`${from}/`)) {
        this.nodes.delete(path);
        this.nodes.set(to + path.slice(from.length), stat);
      }
    }
  }

  rm(path: string): void {
    for (const p of [...this.nodes.keys()]) if (p === path || p.startsWith(`${path}/`)) this.nodes.delete(p);
  }

  /** A second name for the same inode. */
  link(existing: string, path: string): void {
    this.nodes.set(path, { ...this.nodes.get(existing)! });
  }

  below(path: string): string[] {
    return [...this.nodes.keys()].filter((p) => p.startsWith(`${path}/`)).sort();
  }

  stat = async (rel: string): Promise<FileStat | undefined> => {
    const found = this.nodes.get(rel);
    return found && { ...found };
  };
}

let tree: FakeTree;
let changes: LocalChange[];
let detector: RenameDetector;

function start(initialScan = false): void {
  detector = new RenameDetector({
    stat: tree.stat,
    emit: (change) => changes.push(change),
    renameWindowMs: WINDOW,
    stabilityMs: STABLE,
    pollMs: 50,
    initialScan,
    onError: (error) => {
      throw error;
    },
  });
}

function push(...events: WatchEvent[]): void {
  for (const event of events) detector.push(event);
}

/** Lets every window, stability wait and poll run out. */
async function settle(): Promise<void> {
  await vi.advanceTimersByTimeAsync(WINDOW * 12 + STABLE * 4);
}

beforeEach(() => {
  vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
  tree = new FakeTree();
  changes = [];
  start();
});

afterEach(() => {
  vi.useRealTimers();
});

/** A folder and files that exist when the agent starts (recorded, not reported). */
async function existing(...files: string[]): Promise<void> {
  for (const file of files) {
    const parts = file.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!tree.nodes.has(dir)) {
        tree.mkdir(dir);
        push({ type: 'addDir', path: dir, initial: true });
      }
    }
    tree.write(file, 10 + file.length);
    push({ type: 'add', path: file, initial: true });
  }
  await vi.advanceTimersByTimeAsync(STABLE * 2);
  expect(changes).toEqual([]);
}

describe('rename detection', () => {
  // Found by a review: an upload skipped because its file had vanished (moved away, the move reported late) left
  // the index saying the peer has that version; a restart then took the moved file for a move of it, and the MOVE
  // put the peer's older version under the new name. Marked not sent, it is a delete and an upload instead.
  it('a file whose upload was never sent is not taken for the source of a move', async () => {
    await existing('a.txt');
    tree.write('a.txt', 999); // rewritten: the peer keeps the older version
    push({ type: 'change', path: 'a.txt' });
    await settle();
    expect(changes).toEqual([{ action: 'upload', path: 'a.txt' }]);
    detector.notSent('a.txt'); // the sender found the file gone before it sent it
    tree.mv('a.txt', 'b.txt');
    push({ type: 'unlink', path: 'a.txt' }, { type: 'add', path: 'b.txt' });
    await settle();
    expect(changes.slice(1)).toEqual([
      { action: 'delete', path: 'a.txt' },
      { action: 'upload', path: 'b.txt' },
    ]);
    expect(detector.remembered().map(([path, stat]) => [path, stat.size])).toEqual([['b.txt', 999]]);
  });

  it('uploads a new file only once it has stopped changing', async () => {
    tree.write('a.txt', 1);
    push({ type: 'add', path: 'a.txt' });
    for (let i = 2; i <= 8; i++) {
      await vi.advanceTimersByTimeAsync(200); // still being written: less than STABLE between writes
      tree.write('a.txt', i * 1000);
      push({ type: 'change', path: 'a.txt' });
    }
    expect(changes).toEqual([]);
    await settle();
    expect(changes).toEqual([{ action: 'upload', path: 'a.txt' }]);
    expect(detector.backlog).toBe(0);
  });

  it('reports a file moved (unlink, then add) as one rename, without an upload', async () => {
    await existing('docs/report.pdf');
    tree.mv('docs/report.pdf', 'docs/final.pdf');
    push({ type: 'unlink', path: 'docs/report.pdf' }, { type: 'add', path: 'docs/final.pdf' });
    await settle();
    expect(changes).toEqual([{ action: 'rename', path: 'docs/report.pdf', target: 'docs/final.pdf' }]);
  });

  it('uploads a new file written under the name a file was just moved away from (a log rotation)', async () => {
    await existing('app.log');
    tree.mv('app.log', 'app.log.1');
    tree.write('app.log', 5); // a new file, a new inode, at the old name
    // The new file's event comes before the halves of the move (watchers do not promise an order).
    push({ type: 'add', path: 'app.log' }, { type: 'add', path: 'app.log.1' }, { type: 'unlink', path: 'app.log' });
    await settle();
    expect(changes).toEqual([
      { action: 'rename', path: 'app.log', target: 'app.log.1' },
      { action: 'upload', path: 'app.log' },
    ]);
  });

  it('pairs the halves of a move in either order', async () => {
    await existing('a.bin');
    tree.mkdir('sub');
    push({ type: 'addDir', path: 'sub' });
    tree.mv('a.bin', 'sub/b.bin');
    push({ type: 'add', path: 'sub/b.bin' }); // the add first; the unlink arrives late
    await vi.advanceTimersByTimeAsync(WINDOW / 2);
    push({ type: 'unlink', path: 'a.bin' });
    await settle();
    expect(changes).toEqual([
      { action: 'makedir', path: 'sub' },
      { action: 'rename', path: 'a.bin', target: 'sub/b.bin' },
    ]);
  });

  it('reports a folder moved with its contents as one rename and nothing for its children', async () => {
    await existing('a/x.txt', 'a/b/y.txt', 'a/b/c/z.txt');
    const children = tree.below('a');
    tree.mv('a', 'moved');
    // What chokidar emits: the old children removed (deepest first), the folder, then the new listing.
    for (const child of [...children].reverse()) {
      push({ type: tree.nodes.get(`moved${child.slice(1)}`)!.kind === 'dir' ? 'unlinkDir' : 'unlink', path: child });
    }
    push({ type: 'unlinkDir', path: 'a' }, { type: 'addDir', path: 'moved' });
    for (const child of tree.below('moved')) {
      push({ type: tree.nodes.get(child)!.kind === 'dir' ? 'addDir' : 'add', path: child });
    }
    await settle();
    expect(changes).toEqual([{ action: 'rename', path: 'a', target: 'moved' }]);
    expect(detector.index.get('moved/b/c/z.txt')).toBeDefined();
    expect(detector.index.get('a/b/c/z.txt')).toBeUndefined();
  });

  it('reports a folder move whose new name is seen before the old one goes', async () => {
    await existing('a/x.txt', 'a/b/y.txt');
    tree.mv('a', 'z');
    push({ type: 'addDir', path: 'z' }, { type: 'addDir', path: 'z/b' });
    push({ type: 'add', path: 'z/x.txt' }, { type: 'add', path: 'z/b/y.txt' });
    await vi.advanceTimersByTimeAsync(50);
    push({ type: 'unlink', path: 'a/b/y.txt' }, { type: 'unlinkDir', path: 'a/b' });
    push({ type: 'unlink', path: 'a/x.txt' }, { type: 'unlinkDir', path: 'a' });
    await settle();
    expect(changes).toEqual([{ action: 'rename', path: 'a', target: 'z' }]);
  });

  it('uploads a child modified while its folder moved, after the rename', async () => {
    await existing('a/x.txt', 'a/y.txt');
    tree.mv('a', 'b');
    await vi.advanceTimersByTimeAsync(5);
    tree.write('b/y.txt', 999);
    push({ type: 'unlinkDir', path: 'a' }, { type: 'addDir', path: 'b' });
    push({ type: 'add', path: 'b/x.txt' }, { type: 'add', path: 'b/y.txt' });
    await settle();
    expect(changes).toEqual([
      { action: 'rename', path: 'a', target: 'b' },
      { action: 'upload', path: 'b/y.txt' },
    ]);
  });

  it('keeps a child removed just before its folder moved as a delete under the new name', async () => {
    await existing('a/keep.txt', 'a/gone.txt');
    tree.rm('a/gone.txt');
    push({ type: 'unlink', path: 'a/gone.txt' });
    tree.mv('a', 'b');
    push({ type: 'unlink', path: 'a/keep.txt' }, { type: 'unlinkDir', path: 'a' });
    push({ type: 'addDir', path: 'b' }, { type: 'add', path: 'b/keep.txt' });
    await settle();
    expect(changes).toEqual([
      { action: 'rename', path: 'a', target: 'b' },
      { action: 'delete', path: 'b/gone.txt' },
    ]);
  });

  it('uploads a file written at the old name of a folder that moved (`mv d e && echo x > d`)', async () => {
    await existing('d/x.txt');
    tree.mv('d', 'e');
    tree.write('d', 7); // a file now, complete
    // What the folder watcher reports: the old folder's contents and itself removed, the new file, the new folder.
    push({ type: 'unlink', path: 'd/x.txt' }, { type: 'unlinkDir', path: 'd' }, { type: 'add', path: 'd' });
    push({ type: 'addDir', path: 'e' }, { type: 'add', path: 'e/x.txt' });
    await settle();
    expect(changes).toEqual([
      { action: 'rename', path: 'd', target: 'e' },
      { action: 'upload', path: 'd' },
    ]);
  });

  it('reports a folder deleted with its contents as one delete', async () => {
    await existing('d/1.txt', 'd/e/2.txt', 'd e.txt');
    for (const child of [...tree.below('d')].reverse()) {
      push({ type: tree.nodes.get(child)!.kind === 'dir' ? 'unlinkDir' : 'unlink', path: child });
    }
    push({ type: 'unlinkDir', path: 'd' });
    tree.rm('d');
    await settle();
    expect(changes).toEqual([{ action: 'delete', path: 'd' }]);
    expect(detector.index.paths()).toEqual(['d e.txt']);
  });

  it('reports a plain delete once the rename window has passed', async () => {
    await existing('old.txt');
    tree.rm('old.txt');
    push({ type: 'unlink', path: 'old.txt' });
    await vi.advanceTimersByTimeAsync(WINDOW - 50);
    expect(changes).toEqual([]);
    await settle();
    expect(changes).toEqual([{ action: 'delete', path: 'old.txt' }]);
  });

  it('does not take a reused inode for a move (size or mtime differ)', async () => {
    await existing('a.txt');
    const old = tree.nodes.get('a.txt')!;
    tree.rm('a.txt');
    push({ type: 'unlink', path: 'a.txt' });
    await vi.advanceTimersByTimeAsync(10);
    tree.nodes.set('b.txt', { ...old, size: old.size + 1, mtimeMs: Date.now() });
    push({ type: 'add', path: 'b.txt' });
    await settle();
    expect(changes).toEqual([
      { action: 'delete', path: 'a.txt' },
      { action: 'upload', path: 'b.txt' },
    ]);
  });

  it('does not take a folder made in the inode of one just removed for a move (birth times differ)', async () => {
    await existing('old/a.txt');
    const old = tree.nodes.get('old')!;
    tree.rm('old');
    push({ type: 'unlink', path: 'old/a.txt' }, { type: 'unlinkDir', path: 'old' });
    await vi.advanceTimersByTimeAsync(10);
    // ext4 hands the freed inode straight to the next folder; a folder's size and mtime prove nothing.
    tree.nodes.set('new', { ...old, birthtimeMs: (old.birthtimeMs ?? 0) + 5 });
    push({ type: 'addDir', path: 'new' });
    await settle();
    expect(changes).toEqual([
      { action: 'makedir', path: 'new' },
      { action: 'delete', path: 'old' }, // after its rename window; the paths do not overlap
    ]);
  });

  it('does not take a hard link for a move', async () => {
    await existing('a.txt');
    tree.link('a.txt', 'b.txt');
    push({ type: 'add', path: 'b.txt' });
    await settle();
    expect(changes).toEqual([{ action: 'upload', path: 'b.txt' }]);
  });

  it('replaces a file deleted and written again under the same name with one upload', async () => {
    await existing('a.txt');
    tree.rm('a.txt');
    push({ type: 'unlink', path: 'a.txt' });
    tree.write('a.txt', 77); // a new inode
    push({ type: 'add', path: 'a.txt' });
    await settle();
    expect(changes).toEqual([{ action: 'upload', path: 'a.txt' }]);
  });

  it('reports a move over an existing file as one rename', async () => {
    await existing('a.txt', 'b.txt');
    tree.mv('a.txt', 'b.txt');
    push({ type: 'unlink', path: 'a.txt' }, { type: 'change', path: 'b.txt' });
    await settle();
    expect(changes).toEqual([{ action: 'rename', path: 'a.txt', target: 'b.txt' }]);
  });

  it('replays a delete at the target before a move onto it', async () => {
    await existing('dir/x', 'a.txt');
    tree.rm('dir');
    push({ type: 'unlink', path: 'dir/x' }, { type: 'unlinkDir', path: 'dir' });
    tree.mv('a.txt', 'dir');
    push({ type: 'unlink', path: 'a.txt' }, { type: 'add', path: 'dir' });
    await settle();
    expect(changes).toEqual([
      { action: 'delete', path: 'dir' },
      { action: 'rename', path: 'a.txt', target: 'dir' },
    ]);
  });

  it('reports nested new folders parents first, and a file renamed before it settled as one upload', async () => {
    tree.mkdir('n');
    tree.mkdir('n/m');
    tree.mkdir('n/m/o');
    push({ type: 'addDir', path: 'n' }, { type: 'addDir', path: 'n/m' }, { type: 'addDir', path: 'n/m/o' });
    tree.write('n/m/o/draft', 5);
    push({ type: 'add', path: 'n/m/o/draft' });
    await vi.advanceTimersByTimeAsync(100);
    tree.mv('n/m/o/draft', 'n/m/o/final');
    push({ type: 'unlink', path: 'n/m/o/draft' }, { type: 'add', path: 'n/m/o/final' });
    await settle();
    expect(changes).toEqual([
      { action: 'makedir', path: 'n' },
      { action: 'makedir', path: 'n/m' },
      { action: 'makedir', path: 'n/m/o' },
      { action: 'upload', path: 'n/m/o/final' },
    ]);
  });

  it('ignores repeated events for what it already knows', async () => {
    await existing('a/b.txt');
    push({ type: 'add', path: 'a/b.txt' }, { type: 'change', path: 'a/b.txt' }, { type: 'addDir', path: 'a' });
    push({ type: 'unlink', path: 'never-seen' }, { type: 'unlinkDir', path: 'never-seen-dir' });
    await settle();
    expect(changes).toEqual([]);
  });

  it('reports the existing tree with initialScan, parents first, and tracks it for later moves', async () => {
    start(true);
    tree.mkdir('p');
    tree.write('p/f', 3);
    await vi.advanceTimersByTimeAsync(STABLE * 2); // old enough to count as complete
    push({ type: 'addDir', path: '', initial: true }, { type: 'addDir', path: 'p', initial: true });
    push({ type: 'add', path: 'p/f', initial: true });
    await settle();
    expect(changes).toEqual([
      { action: 'makedir', path: 'p' },
      { action: 'upload', path: 'p/f' },
    ]);
    tree.mv('p/f', 'p/g');
    push({ type: 'unlink', path: 'p/f' }, { type: 'add', path: 'p/g' });
    await settle();
    expect(changes.at(-1)).toEqual({ action: 'rename', path: 'p/f', target: 'p/g' });
  });

  it('with initialScan, uploads a file still being written at start even when a previous run knew it as it is', async () => {
    start(true);
    tree.write('fresh', 7); // written just now
    // Seeded from the last run's index, which (saved a moment ago) already holds the file exactly as it is.
    detector.index.set('fresh', (await tree.stat('fresh'))!);
    push({ type: 'add', path: 'fresh', initial: true });
    await settle();
    expect(changes).toEqual([{ action: 'upload', path: 'fresh' }]);
  });

  it('reports what it still holds when drained: removals as deletes, settling files as uploads', async () => {
    await existing('old');
    tree.rm('old');
    push({ type: 'unlink', path: 'old' });
    tree.write('new', 1);
    push({ type: 'add', path: 'new' });
    await vi.advanceTimersByTimeAsync(10);
    await detector.drain();
    expect(changes).toEqual([
      { action: 'upload', path: 'new' },
      { action: 'delete', path: 'old' },
    ]);
    push({ type: 'add', path: 'late' });
    await settle();
    expect(changes).toHaveLength(2);
  });
});

describe('topmost', () => {
  it('keeps only paths no other one contains, subtrees contiguous', () => {
    expect(topmost(['a/x', 'a b', 'a', 'a/x/y', 'b/c', 'a b/z'])).toEqual(['a', 'a b', 'b/c']);
  });
});
