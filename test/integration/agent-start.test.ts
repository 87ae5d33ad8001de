import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type AgentHandle, type AgentOptions, runAgent } from '../../src/agent/index.js';
import type { LocalChange } from '../../src/agent/rename-detector.js';
import { silentLogger } from '../../src/core/logger.js';
import { waitFor } from '../support/node-client.js';
import { tempDir } from '../support/tmp.js';

/**
 * How the agent starts: a watched folder named through a symbolic link. No relay
 * answers (nothing listens on the port): every change stays in the outbox, which the tests read.
 */

const NOBODY = 'http://127.0.0.1:9';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

async function place() {
  const tmp = await tempDir('vfs-relay-agent-start-');
  cleanups.push(tmp.remove);
  const watch = join(tmp.dir, 'w');
  await mkdir(watch);
  return { base: tmp.dir, watch, state: join(tmp.dir, 'state') };
}

function options(watch: string, state: string, extra: Partial<AgentOptions> = {}): AgentOptions {
  return {
    relay: NOBODY,
    token: 't',
    vfs: '/user_homes/',
    watch,
    state,
    renameWindowMs: 200,
    stabilityMs: 300,
    ...extra,
  };
}

async function agent(watch: string, state: string, extra: Partial<AgentOptions> = {}): Promise<AgentHandle> {
  const handle = await runAgent(options(watch, state, extra));
  cleanups.push(() => handle.close());
  return handle;
}

/** The changes in the outbox, in order, as `action path`. */
async function journal(state: string): Promise<string[]> {
  const text = await readFile(join(state, 'outbox.log'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line.includes('"seq"'))
    .map((line) => {
      const change = (JSON.parse(line) as { change: LocalChange }).change;
      return change.action === 'rename' ? `rename ${change.path} ${change.target}` : `${change.action} ${change.path}`;
    });
}

const journaled = (state: string, line: string) =>
  waitFor(
    async () => (await journal(state)).includes(line),
    10_000,
    async () => JSON.stringify(await journal(state)),
  );

describe('agent start', () => {
  it('watches a folder named through a symbolic link: it keeps running, and a restart catches up', async () => {
    const { base, state } = await place();
    const real = join(base, 'real');
    await mkdir(real);
    const watch = join(base, 'link');
    await symlink(real, watch);
    await writeFile(join(watch, 'keep.txt'), 'k');
    const fatal: unknown[] = [];
    const first = await agent(watch, state, { onFatal: (error) => fatal.push(error) });
    await writeFile(join(watch, 'a.txt'), 'x');
    await journaled(state, 'upload a.txt');
    await mkdir(join(watch, 'sub'));
    await writeFile(join(watch, 'sub', 'b.txt'), 'y');
    await journaled(state, 'upload sub/b.txt'); // the root was listed again meanwhile (its own events)
    expect(fatal.map(String)).toEqual([]);
    await first.close();

    await rm(join(watch, 'a.txt'));
    const errors: string[] = [];
    const second = await agent(watch, state, {
      logger: { ...silentLogger, error: (m: string) => void errors.push(m) },
    });
    await second.close();
    expect(await journal(state)).toContain('delete a.txt');
    expect(errors).toEqual([]);
  }, 30_000);
});
