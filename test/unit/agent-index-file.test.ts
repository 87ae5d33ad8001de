import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { FileStat } from '../../src/agent/file-index.js';
import { loadIndex, saveIndex } from '../../src/agent/index-file.js';
import { tempDir } from '../support/tmp.js';

it('saves and loads the remembered folder state; a missing or damaged file reads as none', async () => {
  const tmp = await tempDir();
  try {
    const file = join(tmp.dir, 'index.json');
    expect(await loadIndex(file)).toBeUndefined();
    const entries: [string, FileStat][] = [
      ['a', { kind: 'dir', dev: 2049, ino: 11, size: 4096, mtimeMs: 1_700_000_000_000.5 }],
      ['a/ünï cødé.txt', { kind: 'file', dev: 2049, ino: 12, size: 5, mtimeMs: 1_700_000_000_123 }],
    ];
    await saveIndex(file, entries);
    expect([...(await loadIndex(file))!]).toEqual(entries);
    for (const damaged of ['{"version":1,"rows":[["a",0,1,2,3]]}', '{"version":2,"rows":[]}', '{"rows":', '']) {
      await writeFile(file, damaged);
      expect(await loadIndex(file)).toBeUndefined();
    }
  } finally {
    await tmp.remove();
  }
});
