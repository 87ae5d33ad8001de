import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle } from '../support/child.js';
import { runCli } from '../support/cli.js';
import { waitFor } from '../support/node-client.js';
import { ADMIN_TOKEN, auth, jsonHeaders, startTestRelay, type TestRelay } from '../support/relay.js';

// A hostile WebDAV source: its PROPFIND answer names a member whose href decodes to terminal escape sequences
// (ESC ] 0 ; ... BEL sets the terminal title; ESC [ 2 J clears the screen) and whose propstat is a 500. The job's
// error names that member, and `jobs show` / `peer verify` printed it raw to the operator's terminal (found by a
// review). Every line the CLI prints now has its control and format characters written as \uXXXX.

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const EVIL = '%1B%5D0%3Bpwned%07%1B%5B2J';

function hostileDav(): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const path = decodeURI(new URL(req.url ?? '/', 'http://x').pathname).replace(/\/+$/, '') || '';
    req.resume();
    if (req.method !== 'PROPFIND') {
      res.writeHead(405).end();
      return;
    }
    const self = `${path}/`;
    const member =
      req.headers.depth === '1'
        ? `<D:response><D:href>${self}${EVIL}</D:href><D:propstat><D:prop/><D:status>HTTP/1.1 500 Internal Server Error</D:status></D:propstat></D:response>`
        : '';
    res.writeHead(207, { 'content-type': 'application/xml; charset=utf-8' });
    res.end(
      `<?xml version="1.0" encoding="utf-8"?><D:multistatus xmlns:D="DAV:">` +
        `<D:response><D:href>${self}</D:href><D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>` +
        `${member}</D:multistatus>`,
    );
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server }),
    ),
  );
}

describe('CLI output of what a peer put in a job error', () => {
  let relay: TestRelay;
  let dav: { url: string; server: Server };
  let main: string;

  beforeAll(async () => {
    dav = await hostileDav();
    relay = await startTestRelay({
      peers: [{ name: 'server2', url: dav.url, pingIntervalSeconds: 3600 }],
      sources: [{ name: 'primary', url: dav.url }],
    });
    main = await bundle(MAIN);
  });
  afterAll(async () => {
    await relay?.close();
    await new Promise((r) => dav?.server.close(r));
  });

  it('jobs show / peer verify do not print raw ESC sequences a peer put in the job error', async () => {
    const started = await fetch(`${relay.url}/v1/peers/server2/verify`, {
      method: 'POST',
      headers: jsonHeaders(ADMIN_TOKEN),
      body: JSON.stringify({ from: 'primary', path: '/user_homes' }),
    });
    const { id } = (await started.json()) as { id: string };
    let job: { status: string; error?: string } = { status: 'RUNNING' };
    await waitFor(async () => {
      job = (await (await fetch(`${relay.url}/v1/jobs/${id}`, { headers: auth(ADMIN_TOKEN) })).json()) as typeof job;
      return job.status !== 'RUNNING';
    }, 20_000);
    expect(job.status).toBe('FAILED');
    expect(job.error).toContain('\u001b]0;pwned\u0007');

    const shown = await runCli(main, ['jobs', 'show', id, '--relay', relay.url, '--token', ADMIN_TOKEN]);
    expect(shown.code).toBe(0);
    // The operator's terminal must not receive the peer's escape sequences as is.
    expect(shown.stdout, 'jobs show prints raw ESC from the peer').not.toContain('\u001b');
    expect(shown.stdout).toContain('\\u001b]0;pwned\\u0007'); // shown, written out

    const verify = await runCli(main, [
      'peer',
      'verify',
      'server2',
      '--from',
      'primary',
      '--path',
      '/user_homes',
      '--relay',
      relay.url,
      '--token',
      ADMIN_TOKEN,
    ]);
    expect(verify.stdout + verify.stderr, 'peer verify prints raw ESC from the peer').not.toContain('\u001b');
  });
});
