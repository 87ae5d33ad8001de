import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterEach, expect, it } from 'vitest';
import { PinoLogger } from '../../src/adapters/log/pino-logger.js';
import { resolvePlace } from '../../src/agent/agent-config.js';
import { RelayClient } from '../../src/agent/client.js';
import { OperatorClient } from '../../src/cli/operator-client.js';
import { tempDir } from '../support/tmp.js';

// Found by a review: the agent logged a presigned upload URL, signature included, when the bucket answered with a
// redirect (the message named the Location), or copied S3's error XML (which may quote the signature) into its
// error; a relay URL with user:password@ was printed by `status` and logged by the agent, and sent nowhere.
const SIGNATURE = 'deadbeefcafe0123456789abcdef0123456789abcdef0123456789abcdef0001';
const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );
}

/** A relay that hands out a presigned URL on `bucket`, and the error the client then reports, as logged. */
async function presignedFailure(bucket: string): Promise<{ error: Error; logged: string }> {
  const presigned =
    `${bucket}/journal/multi_journal/lane/id/upload?X-Amz-Algorithm=AWS4-HMAC-SHA256` +
    `&X-Amz-Credential=AKIAEXAMPLE%2F20300101%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Signature=${SIGNATURE}`;
  const relay = await listen((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' });
      res.end(
        req.method === 'POST'
          ? JSON.stringify({
              id: 'c1',
              status: 'AWAITING_BODY',
              upload: { method: 'PUT', url: presigned, headers: {} },
            })
          : '{}',
      );
    });
  });
  const client = new RelayClient({
    relay,
    token: 'node-token-0123456789',
    singleRequestUploads: false,
    retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 2 },
  });
  let error: Error | undefined;
  try {
    await client.uploadFile({ action: 'upload', path: '/user_homes/a.txt', size: 5 }, async () =>
      Readable.from([Buffer.from('hello')]),
    );
  } catch (e) {
    error = e as Error;
  } finally {
    await client.close();
  }
  if (!error) throw new Error('the upload did not fail');
  const lines: string[] = [];
  new PinoLogger({ sink: (l) => lines.push(l), format: 'json' }).error('upload failed', { error });
  return { error, logged: lines.join('') };
}

it('a bucket redirecting a presigned PUT: the error names where to, without the signature', async () => {
  const bucket = await listen((req, res) => {
    req.resume();
    res.writeHead(307, { location: `https://bucket.s3.eu-west-1.amazonaws.com${req.url}` });
    res.end('<Error><Code>TemporaryRedirect</Code></Error>');
  });
  const { error, logged } = await presignedFailure(bucket);
  expect(error.message).toBe(
    '307 REDIRECT: the bucket answered with a redirect to https://bucket.s3.eu-west-1.amazonaws.com/journal/multi_journal/lane/id/upload; use the final URL',
  );
  expect(logged).not.toContain(SIGNATURE);
  expect(logged).not.toContain('AKIAEXAMPLE');
});

it("a bucket's error XML is reduced to its code (SignatureDoesNotMatch quotes the signature)", async () => {
  const bucket = await listen((req, res) => {
    req.resume();
    res.writeHead(400, { 'content-type': 'application/xml' });
    res.end(
      `<Error><Code>SignatureDoesNotMatch</Code><AWSAccessKeyId>AKIAEXAMPLE</AWSAccessKeyId><SignatureProvided>${SIGNATURE}</SignatureProvided></Error>`,
    );
  });
  const { error, logged } = await presignedFailure(bucket);
  expect(error.message).toBe('400 SignatureDoesNotMatch: the bucket refused the body');
  expect(logged).not.toContain(SIGNATURE);
  expect(logged).not.toContain('AKIAEXAMPLE');
});

it('a relay URL with user:password@ is refused by the agent and by the operator commands, without showing it', async () => {
  const tmp = await tempDir();
  try {
    const relay = 'http://ops:ProxyPassw0rd@127.0.0.1:9';
    const agent = resolvePlace({ relay, token: 't'.repeat(20), vfs: '/user_homes/', watch: tmp.dir });
    await expect(agent).rejects.toThrow('--relay must not carry a user name or password (user:password@)');
    await expect(agent).rejects.not.toThrow('ProxyPassw0rd');
    const status = new OperatorClient(relay, 'a'.repeat(20)).get('/v1/peers');
    await expect(status).rejects.toThrow('--relay must not carry a user name or password (user:password@)');
    await expect(status).rejects.not.toThrow('ProxyPassw0rd');
  } finally {
    await tmp.remove();
  }
});
