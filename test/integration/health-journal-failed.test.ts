import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ADMIN_TOKEN, auth, jsonHeaders, NODE_A_TOKEN, startTestRelay, type TestRelay } from '../support/relay.js';
import { fileHandlePrototype } from '../support/tmp.js';

// The journal is fail-stop: after one failed fsync no change is acknowledged until a restart. `/healthz` ("ready
// for changes") still answered 200 ok and /metrics said nothing (found by a review): a load balancer kept sending
// nodes to a relay that answers every change 500. The failure is injected (error path).
describe('health while the journal is fail-stopped', () => {
  let relay: TestRelay;
  beforeAll(async () => {
    relay = await startTestRelay(
      { peers: [{ name: 'server2', url: 'http://127.0.0.1:9/', pingIntervalSeconds: 3600 }] },
      { replay: false },
    );
  });
  afterAll(async () => relay?.close().catch(() => {}));

  const post = (path: string) =>
    fetch(`${relay.url}/v1/changes`, {
      method: 'POST',
      headers: jsonHeaders(NODE_A_TOKEN),
      body: JSON.stringify({ action: 'makedir', path, user: 'john' }),
    });
  const journalOk = async () => {
    const metrics = await (await fetch(`${relay.url}/metrics`, { headers: auth(ADMIN_TOKEN) })).text();
    return metrics.split('\n').find((l) => l.startsWith('vfs_relay_journal_ok '));
  };

  it('/healthz answers 503 JOURNAL_FAILED, and vfs_relay_journal_ok is 0, once a log fsync failed', async () => {
    expect((await post('/user_homes/a')).status).toBe(202);
    expect((await fetch(`${relay.url}/healthz`)).status).toBe(200);
    expect(await journalOk()).toBe('vfs_relay_journal_ok 1');
    const proto = (await fileHandlePrototype(relay.journal)) as { sync: () => Promise<void> };
    const spy = vi
      .spyOn(proto, 'sync')
      .mockImplementation(() => Promise.reject(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' })));
    const failed = await post('/user_homes/b');
    spy.mockRestore();
    expect(failed.status).toBe(500);
    expect((await post('/user_homes/c')).status).toBe(500); // the disk is fine again; the log stays broken

    const health = await fetch(`${relay.url}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.json()).toEqual({
      status: 'failed',
      error: {
        code: 'JOURNAL_FAILED',
        message: expect.stringContaining('the write-ahead log failed (EIO: i/o error, fsync)'),
      },
    });
    expect(await journalOk()).toBe('vfs_relay_journal_ok 0');
  });
});
