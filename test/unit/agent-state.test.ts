import { mkdir, readdir, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Outbox } from '../../src/agent/outbox.js';
import { RefusedChanges } from '../../src/agent/refused-changes.js';
import { defaultStateDir, stateHash, stateHome } from '../../src/agent/state-dir.js';
import { MOVING_FROM, moveLegacyState } from '../../src/agent/state-migration.js';
import { silentLogger } from '../../src/core/logger.js';
import { tempDir } from '../support/tmp.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function scratch(): Promise<string> {
  const tmp = await tempDir('vfs-relay-state-');
  cleanups.push(tmp.remove);
  return tmp.dir;
}

describe('the default state folder', () => {
  it('is /var/lib/vfs-relay for root, else $XDG_STATE_HOME/vfs-relay, else ~/.local/state/vfs-relay', () => {
    expect(stateHome({ uid: 0, env: { XDG_STATE_HOME: '/x' }, home: '/root' })).toBe('/var/lib/vfs-relay');
    expect(stateHome({ uid: 1000, env: { XDG_STATE_HOME: '/x/state' }, home: '/home/u' })).toBe('/x/state/vfs-relay');
    expect(stateHome({ uid: 1000, env: {}, home: '/home/u' })).toBe('/home/u/.local/state/vfs-relay');
    // The XDG spec: a relative path in XDG_STATE_HOME is invalid and ignored.
    expect(stateHome({ uid: 1000, env: { XDG_STATE_HOME: 'rel' }, home: '/home/u' })).toBe(
      '/home/u/.local/state/vfs-relay',
    );
  });

  it('is named by the real path of the watched folder: a symbolic link or a `..` leads to the same one', async () => {
    const dir = await scratch();
    await mkdir(join(dir, 'files'));
    await symlink(join(dir, 'files'), join(dir, 'link'));
    const host = { uid: 1000, env: { XDG_STATE_HOME: join(dir, 'state') }, home: dir };
    const expected = join(dir, 'state', 'vfs-relay', stateHash(join(dir, 'files')));
    expect(await defaultStateDir(join(dir, 'files'), host)).toBe(expected);
    expect(await defaultStateDir(join(dir, 'link'), host)).toBe(expected);
    expect(await defaultStateDir(join(dir, 'files', '..', 'files'), host)).toBe(expected);
    expect(await defaultStateDir(join(dir, 'files'), { ...host, uid: 0 })).toBe(
      join('/var/lib/vfs-relay', stateHash(join(dir, 'files'))),
    );
  });
});

/** An older agent's outbox: two pending changes (one acknowledged), an index and a change set aside. */
async function legacyOutbox(dir: string): Promise<void> {
  const outbox = await Outbox.open(dir);
  await outbox.append({ action: 'upload', path: 'a.txt' });
  await outbox.append({ action: 'makedir', path: 'd' });
  await outbox.append({ action: 'delete', path: 'gone.txt' });
  await outbox.ack(1);
  await outbox.close();
  await writeFile(join(dir, 'index.json'), '{"version":2,"rows":[]}');
  const refused = await RefusedChanges.open(dir);
  await refused.add({
    seq: 9,
    at: new Date(0).toISOString(),
    change: { action: 'upload', path: 'bad\u0001name' },
    refusedAt: new Date(0).toISOString(),
    status: 400,
    code: 'BAD_PATH',
    message: 'no',
  });
}

/** What an agent started on `dir` would find there. */
async function stateOf(dir: string) {
  const outbox = await Outbox.open(dir);
  const pending = outbox.entries().map((e) => [e.seq, e.change.path]);
  await outbox.close();
  const refused = (await RefusedChanges.open(dir)).count;
  return { pending, refused, index: await readFile(join(dir, 'index.json'), 'utf8') };
}

const EXPECTED = {
  pending: [
    [2, 'd'],
    [3, 'gone.txt'],
  ],
  refused: 1,
  index: '{"version":2,"rows":[]}',
};

class SimulatedCrash extends Error {}

describe('moving an older outbox into the state folder', () => {
  it('moves it whole (state folder missing, or made empty by a service manager) and removes the old one', async () => {
    for (const existing of [false, true]) {
      const dir = await scratch();
      const [from, to] = [join(dir, '.vfs-relay-outbox-abc'), join(dir, 'state', 'h')];
      await legacyOutbox(from);
      if (existing) await mkdir(to, { recursive: true });
      expect(await moveLegacyState(from, to, { logger: silentLogger })).toBe('moved');
      expect(await stateOf(to)).toEqual(EXPECTED);
      expect(await readdir(dir)).toEqual(['state']);
      expect(await readdir(to)).not.toContain(MOVING_FROM);
      expect(await moveLegacyState(from, to, { logger: silentLogger })).toBe('none'); // nothing left to move
    }
  });

  // A crash at any step (here: an exception where the next change on disk would be) leaves either the old folder
  // or the new one holding the state; the next start completes the move. Both ways: a rename on one file system,
  // and a copy across two (EXDEV).
  it.each([
    ['on one file system', undefined],
    ['across file systems', () => Promise.reject(Object.assign(new Error('cross-device'), { code: 'EXDEV' }))],
  ] as const)('is completed by the next start after a crash at any step (%s)', async (_name, crossDevice) => {
    const steps: string[] = [];
    {
      const dir = await scratch();
      await legacyOutbox(join(dir, 'old'));
      await moveLegacyState(join(dir, 'old'), join(dir, 'new'), {
        logger: silentLogger,
        beforeStep: (step) => steps.push(step),
        rename: crossDevice,
      });
    }
    expect(steps.length).toBeGreaterThanOrEqual(6);
    for (let crashAt = 0; crashAt < steps.length; crashAt++) {
      const dir = await scratch();
      const [from, to] = [join(dir, 'old'), join(dir, 'new')];
      await legacyOutbox(from);
      let n = 0;
      const crash = () => {
        if (n++ === crashAt) throw new SimulatedCrash(steps[crashAt]);
      };
      await expect(
        moveLegacyState(from, to, { logger: silentLogger, beforeStep: crash, rename: crossDevice }),
      ).rejects.toBeInstanceOf(SimulatedCrash);
      // Restarted: the move completes, and the state is whole, once.
      expect(await moveLegacyState(from, to, { logger: silentLogger })).toBe('moved');
      expect(await stateOf(to), `crash before "${steps[crashAt]}"`).toEqual(EXPECTED);
      expect(await readdir(dir)).toEqual(['new']);
      expect(await readdir(to)).not.toContain(MOVING_FROM);
    }
  });

  it('never overwrites a state folder that holds an outbox of its own: the older one is left alone', async () => {
    const dir = await scratch();
    const [from, to] = [join(dir, 'old'), join(dir, 'new')];
    await legacyOutbox(from);
    const own = await Outbox.open(to);
    await own.append({ action: 'upload', path: 'mine.txt' });
    await own.close();
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (message: string) => warnings.push(message) };
    expect(await moveLegacyState(from, to, { logger })).toBe('kept');
    expect(warnings).toEqual([expect.stringContaining('left alone')]);
    expect((await stateOf(from)).pending).toEqual(EXPECTED.pending);
    const mine = await Outbox.open(to);
    expect(mine.entries().map((e) => e.change.path)).toEqual(['mine.txt']);
    await mine.close();
  });

  it('does not move an outbox an older agent still runs on (OUTBOX_LOCKED), and moves it once it stopped', async () => {
    const dir = await scratch();
    const [from, to] = [join(dir, 'old'), join(dir, 'new')];
    await legacyOutbox(from);
    const running = await Outbox.open(from);
    await expect(moveLegacyState(from, to, { logger: silentLogger })).rejects.toMatchObject({ code: 'OUTBOX_LOCKED' });
    expect(running.entries()).toHaveLength(2);
    await running.close();
    expect(await moveLegacyState(from, to, { logger: silentLogger })).toBe('moved');
    expect(await stateOf(to)).toEqual(EXPECTED);
  });

  it('leaves a state folder alone when there is no older outbox', async () => {
    const dir = await scratch();
    expect(await moveLegacyState(join(dir, 'old'), join(dir, 'new'), { logger: silentLogger })).toBe('none');
    expect(await readdir(dir)).toEqual([]);
    // A folder by that name that holds no outbox log is not an outbox.
    await mkdir(join(dir, 'old'));
    await rename(join(dir, 'old'), join(dir, 'other'));
    expect(await moveLegacyState(join(dir, 'other'), join(dir, 'new'), { logger: silentLogger })).toBe('none');
    expect(await readdir(dir)).toEqual(['other']);
  });
});
