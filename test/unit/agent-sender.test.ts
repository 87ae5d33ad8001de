import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { BodySource, ChangeRequest, RelayClient, UploadRequest } from '../../src/agent/client.js';
import { RelayRefusedError, RelayUnavailableError, UploadUrlRefusedError } from '../../src/agent/errors.js';
import { OPEN_UPLOADS_FILE, OpenUploads } from '../../src/agent/open-uploads.js';
import { Outbox } from '../../src/agent/outbox.js';
import { REFUSED_LOG, RefusedChanges } from '../../src/agent/refused-changes.js';
import type { LocalChange } from '../../src/agent/rename-detector.js';
import type { RetryClock } from '../../src/agent/retry.js';
import { Sender } from '../../src/agent/sender.js';
import type { Logger } from '../../src/core/logger.js';
import { waitFor } from '../support/node-client.js';
import { tempDir } from '../support/tmp.js';

type Receipt = { status: 'PENDING'; id: string } | { status: 'IGNORED'; reason: string };

/** A relay client that records what it is asked to send; `fail` decides per call whether to throw. */
class FakeClient {
  readonly calls: string[] = [];
  fail: (call: string) => Error | undefined = () => undefined;
  /** The relay takes the change and journals nothing (200 IGNORED) for this reason, if any. */
  ignore: (path: string) => string | undefined = () => undefined;

  async submitChange(change: ChangeRequest): Promise<Receipt> {
    const call = `${change.action} ${change.path}${change.target ? ` -> ${change.target}` : ''}`;
    this.attempt(call);
    return this.receipt(change.path);
  }

  private receipt(path: string): Receipt {
    const reason = this.ignore(path);
    return reason ? { status: 'IGNORED', reason } : { status: 'PENDING', id: String(this.calls.length) };
  }

  async uploadFile(change: UploadRequest, body: BodySource): Promise<Receipt> {
    const chunks: Buffer[] = [];
    for await (const chunk of (await body()) as Readable) chunks.push(chunk as Buffer);
    const bytes = Buffer.concat(chunks);
    expect(bytes.length).toBe(change.size);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(change.sha256);
    this.attempt(`upload ${change.path} = ${bytes.toString()}`);
    return this.receipt(change.path);
  }

  private attempt(call: string): void {
    const error = this.fail(call);
    if (error) throw error;
    this.calls.push(call);
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A clock that never sleeps: it records the waits it is asked for (and lets the event loop turn). */
function fakeClock(): RetryClock & { waits: number[] } {
  const waits: number[] = [];
  let now = Date.parse('2030-01-01T00:00:00Z');
  return {
    waits,
    now: () => now,
    random: () => 0.5,
    sleep: async (ms, signal) => {
      if (signal?.aborted) throw signal.reason;
      waits.push(ms);
      now += ms;
      await new Promise((r) => setImmediate(r));
    },
  };
}

/** A logger that keeps what it is told, level first. */
function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const at =
    (level: string) =>
    (message: string, fields: Record<string, unknown> = {}) =>
      lines.push(`${level} ${message} ${JSON.stringify(fields)}`);
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** concurrency 1: these tests pin the exact global order; the parallel sender is tested on its own below. */
async function rig(concurrency = 1, earlierRun?: (stateDir: string) => Promise<void>) {
  const tmp = await tempDir('vfs-relay-sender-');
  cleanups.push(tmp.remove);
  const root = join(tmp.dir, 'watched');
  await mkdir(root);
  const outbox = await Outbox.open(join(tmp.dir, 'outbox'));
  await earlierRun?.(outbox.dir);
  cleanups.push(() => outbox.close());
  const client = new FakeClient();
  const clock = fakeClock();
  const logger = memoryLogger();
  const notSent: string[] = [];
  const sender = new Sender({
    onNotSent: (path) => notSent.push(path),
    outbox,
    refused: await RefusedChanges.open(outbox.dir),
    client: client as unknown as RelayClient,
    root,
    vfs: '/base/',
    logger,
    reconnect: { baseDelayMs: 5, maxDelayMs: 20 },
    goneGraceMs: 200,
    concurrency,
    clock,
  });
  const run = async (...changes: LocalChange[]) => {
    for (const change of changes) await outbox.append(change, 'john');
    sender.start((error) => {
      throw error;
    });
    cleanups.push(() => sender.stop());
    await waitFor(
      async () => outbox.size === 0,
      5_000,
      () => JSON.stringify(client.calls),
    );
  };
  return { root, outbox, client, sender, run, clock, logger, notSent, file: (rel: string) => join(root, rel) };
}

describe('sender', () => {
  it('sends unrelated changes side by side but never before an older change that overlaps them', async () => {
    const { client, run, file } = await rig(8);
    await mkdir(file('d'));
    for (const name of ['a', 'b', 'c']) await writeFile(file(`d/${name}.txt`), name);
    await run(
      { action: 'makedir', path: 'd' },
      { action: 'upload', path: 'd/a.txt' },
      { action: 'upload', path: 'd/b.txt' },
      { action: 'delete', path: 'other' },
      { action: 'upload', path: 'd/c.txt' },
    );
    const calls = client.calls;
    const inside = ['upload /base/d/a.txt = a', 'upload /base/d/b.txt = b', 'upload /base/d/c.txt = c'];
    expect([...calls].sort()).toEqual(['delete /base/other', 'makedir /base/d', ...inside].sort());
    // The folder goes before anything inside it; the unrelated delete need not wait for anyone.
    for (const call of inside) expect(calls.indexOf('makedir /base/d')).toBeLessThan(calls.indexOf(call));
    expect(calls.indexOf('delete /base/other')).toBeLessThan(calls.indexOf('upload /base/d/c.txt = c'));
  });

  it('warns once per reason when the relay ignores changes for a setting (not for an echo), and goes on', async () => {
    const { client, run, file, logger } = await rig();
    await writeFile(file('a.txt'), 'a');
    client.ignore = (path) => (path.includes('echo') ? 'ECHO' : 'NOT_REPLICATED');
    await run(
      { action: 'makedir', path: 'd' },
      { action: 'upload', path: 'a.txt' },
      { action: 'delete', path: 'echo' },
      { action: 'delete', path: 'e' },
    );
    expect(client.calls).toHaveLength(4);
    const warnings = logger.lines.filter((l) => l.startsWith('warn the relay takes changes like this one'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('NOT_REPLICATED');
    expect(warnings[0]).toContain('--vfs must name one of its');
  });

  it('sends the outbox in order under the VFS base and empties it', async () => {
    const { client, run, file } = await rig();
    await mkdir(file('e')); // the folder as it is now, after the journaled rename
    await writeFile(file('e/a.txt'), 'A');
    await run(
      { action: 'makedir', path: 'd' },
      { action: 'upload', path: 'd/a.txt' },
      { action: 'rename', path: 'd', target: 'e' },
      { action: 'delete', path: 'gone' },
    );
    // The upload was read where the later rename took it, and sent under its first name.
    expect(client.calls).toEqual([
      'makedir /base/d',
      'upload /base/d/a.txt = A',
      'rename /base/d -> /base/e',
      'delete /base/gone',
    ]);
  });

  it('reads a queued upload from where its file moved to', async () => {
    const { client, run, file } = await rig();
    await writeFile(file('b.txt'), 'moved before it was sent');
    await run({ action: 'upload', path: 'a.txt' }, { action: 'rename', path: 'a.txt', target: 'b.txt' });
    expect(client.calls).toEqual([
      'upload /base/a.txt = moved before it was sent',
      'rename /base/a.txt -> /base/b.txt',
    ]);
  });

  it('skips an upload whose file is deleted later, and one sent again later', async () => {
    const { client, run, file } = await rig();
    await writeFile(file('twice.txt'), 'final');
    await run(
      { action: 'upload', path: 'short-lived.txt' },
      { action: 'delete', path: 'short-lived.txt' },
      { action: 'upload', path: 'twice.txt' },
      { action: 'upload', path: 'twice.txt' },
    );
    expect(client.calls).toEqual(['delete /base/short-lived.txt', 'upload /base/twice.txt = final']);
  });

  it('turns a rename of a file the peer never got into a delete and an upload', async () => {
    const { client, run, outbox, file, notSent } = await rig();
    await writeFile(file('c.txt'), 'C');
    // a.txt was written, moved to b.txt and deleted, all before anything was sent: nothing to read, ever.
    await run(
      { action: 'upload', path: 'a.txt' },
      { action: 'rename', path: 'a.txt', target: 'b.txt' },
      { action: 'delete', path: 'b.txt' },
      { action: 'upload', path: 'vanished.txt' }, // gone, and nothing says where: skipped after the grace
    );
    // Where it went is only reported now: the peer has no vanished.txt to move.
    await outbox.append({ action: 'rename', path: 'vanished.txt', target: 'c.txt' });
    await waitFor(async () => outbox.size === 0, 5_000);
    expect(client.calls).toEqual([
      'delete /base/a.txt',
      'delete /base/b.txt',
      'delete /base/vanished.txt',
      'upload /base/c.txt = C',
    ]);
    expect(notSent).toEqual(['vanished.txt']); // the agent's index hears of it (a restart must not see a move)
  });

  it('sets aside a change only after 5 local failures in a row, not counting rounds the relay was unreachable', async () => {
    const { client, run, outbox } = await rig();
    let round = 0;
    const local = () => Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    client.fail = (call) => {
      if (!call.startsWith('makedir')) return undefined;
      round += 1;
      // Four rounds of outage, then four local failures, then it works: never five local ones in a row.
      if (round <= 4) return new RelayUnavailableError('down', 1);
      if (round <= 8) return local();
      return undefined;
    };
    await run({ action: 'makedir', path: 'd' });
    expect(client.calls).toEqual(['makedir /base/d']);
    expect((await RefusedChanges.open(outbox.dir)).count).toBe(0);
  });

  it('gives up, before sending anything, the uploads an earlier run left open; keeps those it cannot', async () => {
    const tmp = await tempDir('vfs-relay-open-');
    cleanups.push(tmp.remove);
    await writeFile(join(tmp.dir, OPEN_UPLOADS_FILE), `${JSON.stringify(['c-gone', 'c-unanswered'])}\n`);
    const uploads = await OpenUploads.open(tmp.dir);
    expect(uploads.left).toEqual(['c-gone', 'c-unanswered']);
    const outbox = await Outbox.open(join(tmp.dir, 'outbox'));
    cleanups.push(() => outbox.close());
    const asked: string[] = [];
    const client = new FakeClient();
    const sent: string[] = [];
    Object.assign(client, {
      abandonUpload: async (id: string) => {
        asked.push(id);
        return id === 'c-gone';
      },
    });
    const sender = new Sender({
      outbox,
      refused: await RefusedChanges.open(outbox.dir),
      uploads,
      client: client as unknown as RelayClient,
      root: tmp.dir,
      vfs: '/base/',
      logger: memoryLogger(),
      reconnect: { baseDelayMs: 5, maxDelayMs: 20 },
      goneGraceMs: 200,
      clock: fakeClock(),
    });
    client.fail = (call) => {
      sent.push(`${call} after ${asked.length} abandons`);
      return undefined;
    };
    await outbox.append({ action: 'makedir', path: 'd' });
    sender.start((error) => {
      throw error;
    });
    cleanups.push(() => sender.stop());
    await waitFor(async () => outbox.size === 0, 5_000);
    expect(sent).toEqual(['makedir /base/d after 2 abandons']);
    // The one the relay did not answer for stays listed for the next start.
    expect(JSON.parse(await readFile(join(tmp.dir, OPEN_UPLOADS_FILE), 'utf8'))).toEqual(['c-unanswered']);
    expect((await OpenUploads.open(tmp.dir)).left).toEqual(['c-unanswered']);
  });

  it('keeps a change first in line while the relay is unreachable, refuses the token or redirects', async () => {
    const { client, run, file } = await rig();
    await writeFile(file('x'), 'X');
    let failures = 0;
    client.fail = (call) => {
      if (call.startsWith('makedir') && failures < 4) {
        failures += 1;
        if (failures === 2) return new RelayRefusedError(401, 'UNAUTHENTICATED', 'bad token');
        if (failures === 3) return new RelayRefusedError(308, 'REDIRECT', 'redirect to https://relay/');
        return new RelayUnavailableError('down', 1);
      }
      return undefined;
    };
    await run({ action: 'makedir', path: 'd' }, { action: 'upload', path: 'x' });
    expect(failures).toBe(4);
    expect(client.calls).toEqual(['makedir /base/d', 'upload /base/x = X']);
  });

  it('keeps an upload whose presigned URLs the bucket refuses (expired) first in line, and names the cause once', async () => {
    const { client, run, file, logger, outbox } = await rig();
    await writeFile(file('x'), 'X');
    let failures = 0;
    client.fail = (call) => {
      if (!call.startsWith('upload') || failures >= 6) return undefined;
      failures += 1;
      return new UploadUrlRefusedError('the upload URL for /base/x was refused (403): expired?');
    };
    await run({ action: 'upload', path: 'x' });
    expect(failures).toBe(6); // more than the local failures that set a change aside (5)
    expect(client.calls).toEqual(['upload /base/x = X']);
    expect(await readFile(join(outbox.dir, 'refused.jsonl'), 'utf8').catch(() => '')).toBe('');
    expect(logger.lines.filter((l) => l.includes('bucket refuses the upload URLs'))).toHaveLength(1);
    expect(logger.lines.some((l) => l.includes('token'))).toBe(false);
  });

  it('sets aside a change the relay refuses for good, records it durably, says so at error level, and goes on', async () => {
    const { client, run, outbox, sender, logger } = await rig();
    client.fail = (call) => (call.includes('bad') ? new RelayRefusedError(400, 'BAD_PATH', 'no') : undefined);
    await run({ action: 'makedir', path: 'bad\u0001name' }, { action: 'makedir', path: 'good' });
    expect(client.calls).toEqual(['makedir /base/good']);
    expect(sender.refused).toBe(1);
    const refused = (await readFile(join(outbox.dir, 'refused.jsonl'), 'utf8')).trim().split('\n');
    expect(JSON.parse(refused[0]!)).toMatchObject({
      seq: 1,
      change: { action: 'makedir', path: 'bad\u0001name' },
      user: 'john',
      status: 400,
      code: 'BAD_PATH',
    });
    expect(logger.lines.filter((l) => l.startsWith('error change refused and set aside'))).toHaveLength(1);
    // A new start counts what earlier runs set aside.
    expect((await RefusedChanges.open(outbox.dir)).count).toBe(1);
  });

  it.each([
    ['413 PAYLOAD_TOO_LARGE', new RelayRefusedError(413, 'PAYLOAD_TOO_LARGE', 'too large'), true],
    ['413 from a proxy, without a code', new RelayRefusedError(413, 'HTTP_ERROR', '<html>'), true],
    ['422 BAD_RENAME', new RelayRefusedError(422, 'BAD_RENAME', 'into itself'), true],
    ['400 RESERVED_PATH', new RelayRefusedError(400, 'RESERVED_PATH', 'reserved'), true],
    ['400 LOCATION_ROOT', new RelayRefusedError(400, 'LOCATION_ROOT', 'a location'), true],
    ['410 UPLOAD_EXPIRED (outlived the lifetime)', new RelayRefusedError(410, 'UPLOAD_EXPIRED', 'too slow'), true],
    ['410 from a proxy, without a code', new RelayRefusedError(410, 'HTTP_ERROR', '<html>'), false],
    ['400 MALFORMED_JSON (mangled on the way)', new RelayRefusedError(400, 'MALFORMED_JSON', '?'), false],
    ['404 CHANGE_NOT_FOUND (the relay restarted)', new RelayRefusedError(404, 'CHANGE_NOT_FOUND', 'gone'), false],
    ['415 UNSUPPORTED_MEDIA_TYPE', new RelayRefusedError(415, 'UNSUPPORTED_MEDIA_TYPE', '?'), false],
    ['418 with a code nobody knows', new RelayRefusedError(418, 'TEAPOT', '?'), false],
    ['429 after the client gave up', new RelayUnavailableError('busy', 5, { status: 429 }), false],
    ['503 after the client gave up', new RelayUnavailableError('down', 5, { status: 503 }), false],
  ])('%s: set aside only when it is a definite refusal of the change', async (_name, error, definite) => {
    const { client, run, sender, logger } = await rig();
    let failures = 0;
    client.fail = (call) => (call.startsWith('makedir') && failures++ < 3 ? error : undefined);
    await run({ action: 'makedir', path: 'd' });
    expect(sender.refused).toBe(definite ? 1 : 0);
    expect(client.calls).toEqual(definite ? [] : ['makedir /base/d']);
    expect(failures).toBe(definite ? 1 : 4);
    if (!definite && error instanceof RelayRefusedError) {
      // Not understood, so not dropped: it said so, once, at error level.
      expect(logger.lines.filter((l) => l.startsWith('error the relay answers a change with an error'))).toHaveLength(
        1,
      );
    }
  });

  it('waits at least what a throttling relay asked for between rounds, with capped backoff otherwise', async () => {
    const { client, run, clock, sender, logger } = await rig();
    let failures = 0;
    client.fail = (call) => {
      if (!call.startsWith('makedir') || failures >= 5) return undefined;
      failures += 1;
      return failures === 2
        ? new RelayUnavailableError('throttled', 5, { status: 429, retryAfterMs: 7_000 })
        : new RelayUnavailableError('down', 5, { status: 503 });
    };
    await run({ action: 'makedir', path: 'd' });
    expect(client.calls).toEqual(['makedir /base/d']);
    expect(sender.refused).toBe(0);
    // reconnect: base 5, cap 20; random 0.5 → no jitter. Round 2 waits for the relay's 7 s (+10 % spread).
    expect(clock.waits).toEqual([5, 7_700, 20, 20, 20]);
    expect(logger.lines.some((l) => l.startsWith('info sending again'))).toBe(true);
  });

  it('drops a waiting upload once a newer upload of the same file supersedes it', async () => {
    const { client, outbox, sender, file } = await rig();
    await writeFile(file('f'), 'newest');
    let throttled = 0;
    let newer = false;
    // Throttled for as long as the newer upload is not queued: the older one can only end by being superseded.
    client.fail = () => {
      if (newer) return undefined;
      throttled += 1;
      return new RelayUnavailableError('throttled', 5, { status: 429 });
    };
    await outbox.append({ action: 'upload', path: 'f' });
    sender.start((error) => {
      throw error;
    });
    cleanups.push(() => sender.stop());
    await waitFor(async () => throttled > 0, 5_000);
    await outbox.append({ action: 'upload', path: 'f' });
    newer = true;
    await waitFor(
      async () => outbox.size === 0,
      5_000,
      () => JSON.stringify(client.calls),
    );
    expect(client.calls).toEqual(['upload /base/f = newest']);
  });

  it('turns a later rename of an upload it set aside into a delete and an upload under the new name', async () => {
    const { client, run, file } = await rig();
    await writeFile(file('ok.txt'), 'data');
    client.fail = (call) =>
      call.includes('bad:name') ? new RelayRefusedError(400, 'BAD_PATH', 'no colons here') : undefined;
    await run({ action: 'upload', path: 'bad:name' }, { action: 'rename', path: 'bad:name', target: 'ok.txt' });
    expect(client.calls).toEqual(['upload /base/ok.txt = data']);
  });

  it('remembers across a restart that an upload was set aside: its rename is still a delete and an upload', async () => {
    // The earlier run set aside the upload of a name the relay refuses; the user then renamed the file.
    const refusedUpload = {
      seq: 1,
      at: new Date().toISOString(),
      change: { action: 'upload', path: 'bad:name' },
      refusedAt: new Date().toISOString(),
      status: 400,
      code: 'BAD_PATH',
      message: 'no colons here',
    };
    const { client, run, file } = await rig(1, (dir) =>
      writeFile(join(dir, REFUSED_LOG), `${JSON.stringify(refusedUpload)}\n`),
    );
    await writeFile(file('ok.txt'), 'data');
    client.fail = (call) =>
      call.includes('bad:name') ? new RelayRefusedError(400, 'BAD_PATH', 'no colons here') : undefined;
    await run({ action: 'rename', path: 'bad:name', target: 'ok.txt' });
    expect(client.calls).toEqual(['upload /base/ok.txt = data']);
  });

  it('replaces a rename the relay refuses across locations by a delete and an upload', async () => {
    const { client, run, file } = await rig();
    await mkdir(file('other'));
    await writeFile(file('other/f'), 'F');
    await rename(file('other/f'), file('other/g'));
    client.fail = (call) =>
      call.startsWith('rename') ? new RelayRefusedError(422, 'RENAME_ACROSS_LOCATIONS', 'no') : undefined;
    await run({ action: 'rename', path: 'f', target: 'other/g' });
    expect(client.calls).toEqual(['delete /base/f', 'upload /base/other/g = F']);
  });
});
