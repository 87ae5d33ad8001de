import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { BodySource, ChangeRequest, RelayClient, UploadRequest } from '../../src/agent/client.js';
import { RelayRefusedError, RelayUnavailableError } from '../../src/agent/errors.js';
import { Outbox } from '../../src/agent/outbox.js';
import type { LocalChange } from '../../src/agent/rename-detector.js';
import { Sender } from '../../src/agent/sender.js';
import { silentLogger } from '../../src/core/logger.js';
import { waitFor } from '../support/node-client.js';
import { tempDir } from '../support/tmp.js';

/** A relay client that records what it is asked to send; `fail` decides per call whether to throw. */
class FakeClient {
  readonly calls: string[] = [];
  fail: (call: string) => Error | undefined = () => undefined;

  async submitChange(change: ChangeRequest): Promise<{ status: 'PENDING'; id: string }> {
    const call = `${change.action} ${change.path}${change.target ? ` -> ${change.target}` : ''}`;
    this.attempt(call);
    return { status: 'PENDING', id: String(this.calls.length) };
  }

  async uploadFile(change: UploadRequest, body: BodySource): Promise<{ status: 'PENDING'; id: string }> {
    const chunks: Buffer[] = [];
    for await (const chunk of (await body()) as Readable) chunks.push(chunk as Buffer);
    const bytes = Buffer.concat(chunks);
    expect(bytes.length).toBe(change.size);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(change.sha256);
    this.attempt(`upload ${change.path} = ${bytes.toString()}`);
    return { status: 'PENDING', id: String(this.calls.length) };
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

/** concurrency 1: these tests pin the exact global order; the parallel sender is tested on its own below. */
async function rig(concurrency = 1) {
  const tmp = await tempDir('vfs-relay-sender-');
  cleanups.push(tmp.remove);
  const root = join(tmp.dir, 'watched');
  await mkdir(root);
  const outbox = await Outbox.open(join(tmp.dir, 'outbox'));
  cleanups.push(() => outbox.close());
  const client = new FakeClient();
  const sender = new Sender({
    outbox,
    client: client as unknown as RelayClient,
    root,
    vfs: '/base/',
    logger: silentLogger,
    reconnect: { baseDelayMs: 5, maxDelayMs: 20 },
    goneGraceMs: 200,
    concurrency,
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
  return { root, outbox, client, sender, run, file: (rel: string) => join(root, rel) };
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
    const { client, run, outbox, file } = await rig();
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

  it('drops a change the relay refuses for good, records it, and goes on', async () => {
    const { client, run, outbox, sender } = await rig();
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
