import { platform } from 'node:os';
import { describe, expect, it } from 'vitest';
import { FileSystemSync } from '../../src/adapters/fs-journal/syncfs.js';
import { waitFor } from '../support/node-client.js';
import { tempDir } from '../support/tmp.js';

const linux = platform() === 'linux';

function running(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('FileSystemSync', () => {
  it('syncs the file system of an existing folder on Linux, and says so; one shell answers every call', async () => {
    const tmp = await tempDir();
    const fileSystem = new FileSystemSync(tmp.dir);
    try {
      expect(await fileSystem.sync()).toBe(linux);
      if (!linux) return;
      const pid = fileSystem.helperPid;
      expect(running(pid)).toBe(true);
      // Side by side: answered in order, by the same shell.
      expect(await Promise.all([fileSystem.sync(), fileSystem.sync(), fileSystem.sync()])).toEqual([true, true, true]);
      expect(fileSystem.helperPid).toBe(pid);
      fileSystem.close();
      await waitFor(
        async () => !running(pid),
        5_000,
        () => `shell ${pid} still runs after close`,
      );
    } finally {
      fileSystem.close();
      await tmp.remove();
    }
  });

  it('answers false (the caller falls back to fsyncs) for a path that does not exist, and keeps its shell', async () => {
    const fileSystem = new FileSystemSync('/no/such/folder/for/vfs-relay');
    try {
      expect(await fileSystem.sync()).toBe(false);
      if (linux) expect(running(fileSystem.helperPid)).toBe(true);
    } finally {
      fileSystem.close();
    }
  });

  it.runIf(linux)('asks a new shell once when its shell died before answering, and keeps working after', async () => {
    const tmp = await tempDir();
    // The first shell reads the request and dies without answering; the next one answers as the real one does.
    const script = `if [ -e "$0/.first" ]; then while IFS= read -r _; do sync -f -- "$0"; echo $?; done; else : > "$0/.first"; read -r _; exit 1; fi`;
    const fileSystem = new FileSystemSync(tmp.dir, { script });
    try {
      expect(await fileSystem.sync()).toBe(true);
      const first = fileSystem.helperPid!;
      process.kill(first, 'SIGKILL');
      await waitFor(
        async () => fileSystem.helperPid === undefined,
        5_000,
        () => 'the dead shell is still counted',
      );
      expect(await fileSystem.sync()).toBe(true);
      expect(fileSystem.helperPid).not.toBe(first);
    } finally {
      fileSystem.close();
      await tmp.remove();
    }
  });

  it.runIf(linux)(
    'outlives the signals sent to the relay (Ctrl-C, a service stop): only its input ends it',
    async () => {
      const tmp = await tempDir();
      const fileSystem = new FileSystemSync(tmp.dir);
      try {
        expect(await fileSystem.sync()).toBe(true);
        const pid = fileSystem.helperPid!;
        for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.kill(pid, signal);
        expect(await fileSystem.sync()).toBe(true);
        expect(fileSystem.helperPid).toBe(pid);
      } finally {
        fileSystem.close();
        await tmp.remove();
      }
    },
  );

  it.runIf(linux)('answers false after close, without starting a shell', async () => {
    const tmp = await tempDir();
    const fileSystem = new FileSystemSync(tmp.dir);
    try {
      fileSystem.close();
      expect(await fileSystem.sync()).toBe(false);
      expect(fileSystem.helperPid).toBeUndefined();
    } finally {
      await tmp.remove();
    }
  });

  it.runIf(linux)('gives up on a sync that does not answer in time: false, and the shell is killed', async () => {
    const tmp = await tempDir();
    const fileSystem = new FileSystemSync(tmp.dir, { script: 'read -r _; exec sleep 600', timeoutMs: 100 });
    try {
      const answer = fileSystem.sync();
      await waitFor(async () => running(fileSystem.helperPid), 5_000);
      const pid = fileSystem.helperPid;
      expect(await answer).toBe(false);
      await waitFor(
        async () => !running(pid),
        5_000,
        () => `shell ${pid} still runs`,
      );
    } finally {
      fileSystem.close();
      await tmp.remove();
    }
  });

  it.runIf(linux)('does not keep the process alive while idle', async () => {
    // A child process that syncs once and has nothing else to do must exit on its own.
    const { execFileSync } = await import('node:child_process');
    const tmp = await tempDir();
    try {
      const module = new URL('../../src/adapters/fs-journal/syncfs.ts', import.meta.url).pathname;
      const code = `import { FileSystemSync } from ${JSON.stringify(module)};
        const ok = await new FileSystemSync(${JSON.stringify(tmp.dir)}).sync();
        console.log(ok ? 'synced' : 'failed');`;
      const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
        timeout: 20_000,
        encoding: 'utf8',
      });
      expect(out.trim()).toBe('synced');
    } finally {
      await tmp.remove();
    }
  });
});
