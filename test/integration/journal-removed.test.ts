import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { ADMIN_TOKEN, auth, NODE_A_TOKEN, startTestRelay, type TestRelay } from '../support/relay.js';

// The journal folder removed (or moved away) under a running relay: the log's file is then in no folder, its
// fsyncs still succeed, and a change acknowledged into it would be in no journal a restart could read.

const peers = [{ name: 'server2', url: 'http://127.0.0.1:9/', pingIntervalSeconds: 3600 }];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function makedir(relay: TestRelay, path: string): Promise<Response> {
  return fetch(`${relay.url}/v1/changes`, {
    method: 'POST',
    headers: auth(NODE_A_TOKEN, { 'content-type': 'application/json' }),
    body: JSON.stringify({ action: 'makedir', path }),
  });
}

it('acknowledges no change once its journal folder is gone, and says so at /healthz', async () => {
  const root = await mkdtemp(join(tmpdir(), 'vfs-relay-removed-'));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const relay = await startTestRelay({ peers }, { journal: root, replay: false });
  cleanups.push(() => relay.relay.close().catch(() => undefined));
  expect((await makedir(relay, '/user_homes/before')).status).toBe(202);

  await rm(root, { recursive: true, force: true });
  const after = await makedir(relay, '/user_homes/after');
  expect(after.status).toBeGreaterThanOrEqual(500);
  const health = await fetch(`${relay.url}/healthz`);
  expect(health.status).toBe(503);
  expect(((await health.json()) as { error: { message: string } }).error.message).toMatch(/journal folder was removed/);
  // Nothing acknowledged is listed that no journal holds.
  const listed = await fetch(`${relay.url}/v1/changes`, { headers: auth(ADMIN_TOKEN) });
  expect(JSON.stringify(await listed.json())).not.toContain('/user_homes/after');
});
