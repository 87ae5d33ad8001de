import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import type { RelayClient } from '../../src/agent/client.js';
import { DocumentDelivery } from '../../src/agent/document-sender.js';
import { isDefiniteRefusal } from '../../src/agent/refusals.js';
import { silentLogger } from '../../src/core/logger.js';
import { tempDir } from '../support/tmp.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function delivery() {
  const tmp = await tempDir();
  cleanups.push(tmp.remove);
  mkdirSync(join(tmp.dir, 'users'));
  const puts: string[] = [];
  const client = {
    putConfig: async (scope: string, name: string, body: Buffer, type: string) =>
      void puts.push(`${scope}/${name} ${type} ${body.length}`),
    deleteConfig: async () => {},
  };
  const sender = new DocumentDelivery(
    tmp.dir,
    client as unknown as RelayClient,
    silentLogger,
    new AbortController().signal,
  );
  return { dir: tmp.dir, puts, sender };
}

it('sends a document with its content type', async () => {
  const { dir, puts, sender } = await delivery();
  writeFileSync(join(dir, 'users/john.json'), '{"name":"john"}');
  await sender.deliver({ action: 'upload', path: 'users/john.json' });
  expect(puts).toEqual(['users/john.json application/json 15']);
});

it('sets aside a document over 1 MiB as the relay would refuse it (413), instead of counting it sent', async () => {
  const { dir, puts, sender } = await delivery();
  writeFileSync(join(dir, 'users/john.XML'), `<user>${'a'.repeat(1024 * 1024)}</user>`);
  const error = await sender.deliver({ action: 'upload', path: 'users/john.XML' }).catch((e: unknown) => e);
  expect(isDefiniteRefusal(error)).toBe(true);
  expect(String(error)).toContain('users/john.XML');
  expect(puts).toEqual([]);
});

it('a document name that holds a FIFO now does not hang the sender (nothing is sent)', async () => {
  const { dir, puts, sender } = await delivery();
  const fifo = join(dir, 'users/john.XML');
  execFileSync('mkfifo', [fifo]);
  // Should an open block on the FIFO (the bug), a writer coming and going releases it; with no reader, ENXIO.
  cleanups.push(async () => {
    try {
      closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {}
  });
  await sender.deliver({ action: 'upload', path: 'users/john.XML' });
  expect(puts).toEqual([]);
});
