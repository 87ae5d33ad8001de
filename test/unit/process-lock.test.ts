import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireProcessLock } from '../../src/adapters/process-lock/index.js';
import { holderState, type LockStamp, ownStamp, type ProcessProbe } from '../../src/adapters/process-lock/stamp.js';
import { bundle } from '../support/child.js';
import { waitFor } from '../support/node-client.js';
import { tempDir } from '../support/tmp.js';

class TakenError extends Error {}
const options = { what: 'the test folder', locked: (message: string) => new TakenError(message) };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function folder(): Promise<string> {
  const tmp = await tempDir('vfs-relay-lock-');
  cleanups.push(tmp.remove);
  return tmp.dir;
}

/** A process that takes and releases locks when told (test/support/lock-child.ts). */
class LockChild {
  private readonly answers: string[] = [];
  private waiting: (() => void) | undefined;
  readonly exited: Promise<void>;
  private readonly lines: Interface;

  private constructor(readonly process: ChildProcess) {
    this.lines = createInterface({ input: process.stdout! });
    this.lines.on('line', (line) => {
      this.answers.push(line);
      this.waiting?.();
    });
    this.exited = new Promise((resolve) => process.once('exit', () => resolve()));
  }

  /** `wrapper`: a command that runs node (e.g. `unshare --pid --fork`: the child is PID 1, as in a container). */
  static async start(wrapper: string[] = []): Promise<LockChild> {
    const script = await bundle(fileURLToPath(new URL('../support/lock-child.ts', import.meta.url)));
    const [command, ...args] = [...wrapper, process.execPath, script];
    const child = new LockChild(spawn(command!, args, { stdio: ['pipe', 'pipe', 'inherit'] }));
    cleanups.push(() => {
      child.process.kill('SIGKILL');
    });
    expect(await child.next()).toMatch(/^READY \d+$/);
    return child;
  }

  send(line: string): void {
    this.process.stdin!.write(`${line}\n`);
  }

  async next(): Promise<string> {
    while (this.answers.length === 0) {
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
      });
    }
    return this.answers.shift()!;
  }

  async kill(): Promise<void> {
    this.process.kill('SIGKILL');
    await this.exited;
  }
}

// --kill-child: SIGKILL of unshare takes the node inside with it, as stopping a container does.
const inPidNamespace = ['unshare', '--pid', '--fork', '--kill-child'];
const pidNamespaces = spawnSync(inPidNamespace[0]!, [...inPidNamespace.slice(1), 'true']).status === 0;

describe('process lock (kernel)', () => {
  it('refuses a second holder in this process and in another, naming the holder; SIGKILL hands it over', async () => {
    const file = join(await folder(), 'relay.lock');
    const release = await acquireProcessLock(file, options);
    await expect(acquireProcessLock(file, options)).rejects.toThrow(/already open in this process/);
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ pid: process.pid });
    const other = await LockChild.start();
    other.send(`lock ${file}`);
    expect(await other.next()).toBe(
      `LOST the test folder is in use by process ${process.pid} on ${ownStamp().host} (started ${ownStamp().startedAt}) (lock file ${file})`,
    );
    await release();
    other.send(`lock ${file}`);
    expect(await other.next()).toBe(`WON ${other.process.pid}`);
    await expect(acquireProcessLock(file, options)).rejects.toThrow(`in use by process ${other.process.pid}`);
    await other.kill(); // no release: the kernel lets go with the process
    const again = await acquireProcessLock(file, options);
    await again();
  });

  it.runIf(pidNamespaces)(
    'tells apart two relays that are both PID 1 (containers sharing a volume, a restarted container)',
    async () => {
      const file = join(await folder(), 'relay.lock');
      const first = await LockChild.start(inPidNamespace);
      const second = await LockChild.start(inPidNamespace);
      first.send(`lock ${file}`);
      expect(await first.next()).toBe('WON 1');
      second.send(`lock ${file}`);
      expect(await second.next()).toMatch(/^LOST the test folder is in use by process 1 on .* \(lock file /);
      // The first "container" dies; the other one, also PID 1, starts after it and takes over.
      await first.kill();
      // Killing unshare kills its child a moment later: ask until the kernel has let go (bounded).
      await waitFor(async () => {
        second.send(`lock ${file}`);
        return (await second.next()) === 'WON 1';
      }, 10_000);
    },
  );

  it('lets exactly one of five starters win, round after round, also over a dead holder', async () => {
    const file = join(await folder(), 'relay.lock');
    const children = await Promise.all(Array.from({ length: 5 }, () => LockChild.start()));
    for (let round = 0; round < 40; round++) {
      for (const child of children) child.send(`lock ${file}`);
      const answers = await Promise.all(children.map((child) => child.next()));
      const winners = children.filter((_, i) => answers[i]!.startsWith('WON'));
      expect(winners, `round ${round}: ${answers.join(' | ')}`).toHaveLength(1);
      const winner = winners[0]!;
      if (round % 8 === 7) {
        // The holder is killed: its stamp stays in the file, and the next round must still have one winner.
        await winner.kill();
        children[children.indexOf(winner)] = await LockChild.start();
      } else {
        winner.send('release');
        expect(await winner.next()).toBe('RELEASED');
      }
    }
  }, 60_000);
});

describe('process lock (stamp fallback, where the kernel lock cannot load)', () => {
  const self: LockStamp = {
    pid: 1,
    host: 'relay-a',
    startedAt: '2030-01-01T00:00:00.000Z',
    bootId: 'boot-1',
    pidNamespace: 'pid:[100]',
    startTicks: '5000',
  };
  const probe = (running: Record<number, string>): ProcessProbe => ({
    alive: (pid) => pid in running,
    startTicks: (pid) => running[pid],
  });

  it('judges a holder by pid, start time, boot and pid namespace, never by the pid alone', () => {
    const running = probe({ 1: '5000', 7: '42' });
    // The same pid as ours (PID 1 in a container) started at another time: an earlier run, gone.
    expect(holderState({ ...self, startTicks: '100' }, self, running)).toBe('dead');
    expect(holderState({ ...self, pid: 7, startTicks: '42' }, self, running)).toBe('alive');
    expect(holderState({ ...self, pid: 7, startTicks: '41' }, self, running)).toBe('dead'); // pid reused
    expect(holderState({ ...self, pid: 8 }, self, running)).toBe('dead');
    // Same host, booted since: gone, whatever the pid.
    expect(holderState({ ...self, pid: 7, startTicks: '42', bootId: 'boot-0' }, self, running)).toBe('dead');
    // Another container on this machine (its own pid namespace), or another host: cannot be judged.
    expect(holderState({ ...self, host: 'relay-b', pidNamespace: 'pid:[200]' }, self, running)).toBe('unknown');
    expect(holderState({ ...self, pidNamespace: 'pid:[200]' }, self, running)).toBe('unknown');
    expect(holderState({ ...self, host: 'elsewhere', bootId: 'boot-9' }, self, running)).toBe('unknown');
    // An older version's lock file: the pid alone, as that version judged it.
    expect(holderState({ pid: 7 }, self, running)).toBe('alive');
    expect(holderState({ pid: 1 }, self, running)).toBe('dead');
  });

  it('takes over a stamp with this pid but another start, and refuses a live holder', async () => {
    process.env.VFS_RELAY_LOCK = 'stamp';
    cleanups.push(() => {
      delete process.env.VFS_RELAY_LOCK;
    });
    const file = join(await folder(), 'relay.lock');
    const me = ownStamp();
    await writeFile(file, JSON.stringify({ ...me, startTicks: me.startTicks ? '1' : undefined, bootId: 'gone' }));
    const release = await acquireProcessLock(file, options);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(me);
    await release();
    const other = await LockChild.start();
    cleanups.push(() => other.kill());
    // The child is not told to use the fallback: its stamp is written by the kernel-lock path, same format.
    other.send(`lock ${file}`);
    expect(await other.next()).toMatch(/^WON /);
    await waitFor(async () => (await readFile(file, 'utf8')).includes(`"pid":${other.process.pid}`), 5_000);
    await expect(acquireProcessLock(file, options)).rejects.toThrow(`in use by process ${other.process.pid}`);
  });
});
