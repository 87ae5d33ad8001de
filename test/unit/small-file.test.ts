import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readSmallFileSync } from '../../src/adapters/fs-journal/small-file.js';
import { tempDir } from '../support/tmp.js';

describe('readSmallFileSync', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>> | undefined;
  afterEach(async () => {
    await tmp?.remove();
    tmp = undefined;
  });

  async function file(bytes: Buffer): Promise<string> {
    tmp ??= await tempDir();
    const path = join(tmp.dir, `f${bytes.length}-${Math.random().toString(36).slice(2)}`);
    await writeFile(path, bytes);
    return path;
  }

  it('hands back a file that is exactly the size asked for, empty ones included', async () => {
    for (const size of [0, 1, 4095, 4096, 65_537]) {
      const content = Buffer.alloc(size, size % 251);
      const bytes = readSmallFileSync(await file(content), size);
      expect(bytes?.equals(content)).toBe(true);
    }
  });

  it('refuses a file shorter or longer than the size asked for, by a single byte too', async () => {
    const content = Buffer.alloc(4096, 7);
    const path = await file(content);
    expect(readSmallFileSync(path, 4097)).toBeUndefined();
    expect(readSmallFileSync(path, 4095)).toBeUndefined();
    expect(readSmallFileSync(path, 0)).toBeUndefined();
    expect(readSmallFileSync(await file(Buffer.alloc(0)), 1)).toBeUndefined();
  });

  it('throws for a missing file (the store turns it into BODY_MISSING)', () => {
    expect(() => readSmallFileSync('/nonexistent/vfs-relay/body', 1)).toThrow(/ENOENT/);
  });
});
