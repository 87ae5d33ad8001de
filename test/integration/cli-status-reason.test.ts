import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle } from '../support/child.js';
import { runCli } from '../support/cli.js';
import { ADMIN_TOKEN, auth, startTestRelay, type TestRelay } from '../support/relay.js';

// docs/operations.md: "Peer OFFLINE: `status` shows it with `lastError` (e.g. `ECONNREFUSED`)". It did not (found by
// a review): the reason a peer is not ONLINE now follows the table.
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

describe('vfs-relay status on an OFFLINE peer', () => {
  let relay: TestRelay;
  let main: string;
  beforeAll(async () => {
    relay = await startTestRelay({
      peers: [{ name: 'server2', url: 'http://127.0.0.1:9/', pingIntervalSeconds: 3600 }],
    });
    main = await bundle(MAIN);
  });
  afterAll(async () => relay?.close());

  it('shows the reason the relay has for it', async () => {
    const pinged = (await (
      await fetch(`${relay.url}/v1/peers/server2/ping`, { method: 'POST', headers: auth(ADMIN_TOKEN) })
    ).json()) as { status: string; lastError?: string };
    expect(pinged).toMatchObject({ status: 'OFFLINE', lastError: 'ECONNREFUSED' });
    const out = await runCli(main, ['status', '--relay', relay.url, '--token', ADMIN_TOKEN]);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('OFFLINE');
    expect(out.stdout).toContain('server2 is OFFLINE: ECONNREFUSED');
  });
});
