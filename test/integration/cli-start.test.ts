import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle } from '../support/child.js';
import { tempDir } from '../support/tmp.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const RECORD_LOADS = fileURLToPath(new URL('../support/record-loads.mjs', import.meta.url));
const TOKEN = 'admin-token-0123456789';

/** The packages (node_modules/<name>) a module list names; the test's bundle of the CLI is in node_modules/.cache. */
function packagesIn(loaded: string[]): string[] {
  const names = loaded
    .map((m) => /node_modules\/((?:@[^/]+\/)?[^/.][^/]*)\//.exec(m)?.[1])
    .filter((n) => n !== undefined);
  return [...new Set(names)].sort();
}

/**
 * What starting a light command costs is mostly what it loads (docs/benchmarks.md, CLI start): `status` and
 * `journal ls` load commander and Node's http client, not the AWS SDK, the relay, the demo's WebDAV server, nor
 * Node's bundled undici (fetch compiles it on first use: about 70 ms of CPU).
 */
describe('CLI start: what a light command loads', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let main: string;
  let relay: Server;
  let relayUrl: string;
  beforeAll(async () => {
    tmp = await tempDir('vfs-relay-cli-start-');
    main = await bundle(MAIN);
    // Answers what an empty relay answers: both commands run to their end (exit 0).
    relay = createServer((req, res) => {
      const body = req.url?.startsWith('/v1/peers') ? [] : { items: [], next: null };
      res.writeHead(req.headers.authorization === `Bearer ${TOKEN}` ? 200 : 401, {
        'content-type': 'application/json',
      });
      res.end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    relayUrl = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`;
  }, 60_000);
  afterAll(async () => {
    await new Promise((resolve) => relay?.close(resolve));
    await tmp?.remove();
  });

  let runs = 0;
  const loadedBy = (args: string[]): Promise<{ code: number; loaded: string[] }> => {
    const log = join(tmp.dir, `loaded-${++runs}.log`);
    writeFileSync(log, '');
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        ['--import', RECORD_LOADS, main, ...args],
        { env: { ...process.env, LOADED_LOG: log, VFS_RELAY_ADMIN_TOKEN: TOKEN }, timeout: 30_000 },
        (error) =>
          resolve({
            code: error ? Number(error.code ?? 1) : 0,
            loaded: readFileSync(log, 'utf8').split('\n').filter(Boolean),
          }),
      );
    });
  };

  it.each([[['status']], [['journal', 'ls']]])('%j loads commander and node:http only', async (command) => {
    // Act
    const { code, loaded } = await loadedBy([...command, '--relay', relayUrl]);

    // Assess
    expect(code).toBe(0);
    expect(loaded.some((m) => m.includes('commander'))).toBe(true); // the recording works
    expect(loaded).toContain('node-internal:http');
    expect(packagesIn(loaded)).toEqual(['commander']);
    expect(loaded.filter((m) => m.includes('undici'))).toEqual([]);
  });

  it('sees what a heavier command loads (the recording is not blind)', async () => {
    // `config check` loads the config schema (zod), still no AWS SDK.
    const { code, loaded } = await loadedBy(['config', 'check', '--config', join(tmp.dir, 'absent.json')]);

    expect(code).not.toBe(0);
    expect(packagesIn(loaded)).toContain('zod');
    expect(packagesIn(loaded).filter((p) => p.startsWith('@aws-sdk'))).toEqual([]);
  });
});
