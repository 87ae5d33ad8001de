import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { FileStat } from '../../src/agent/file-index.js';
import { loadIndex, saveIndex } from '../../src/agent/index-file.js';
import { tempDir } from '../support/tmp.js';

it('saves and loads the remembered folder state; a missing file reads as none, a damaged one as none with a reason', async () => {
  const tmp = await tempDir();
  try {
    const file = join(tmp.dir, 'index.json');
    const reasons: string[] = [];
    const load = () => loadIndex(file, (reason) => reasons.push(reason));
    expect(await load()).toBeUndefined();
    expect(reasons).toEqual([]); // no index yet: a first start, nothing to warn about
    const entries: [string, FileStat][] = [
      [
        'a',
        {
          kind: 'dir',
          dev: 2049,
          ino: 11,
          size: 4096,
          mtimeMs: 1_700_000_000_000.5,
          birthtimeMs: 1_690_000_000_000.25,
        },
      ],
      ['a/ünï cødé.txt', { kind: 'file', dev: 2049, ino: 12, size: 5, mtimeMs: 1_700_000_000_123, birthtimeMs: 0 }],
    ];
    await saveIndex(file, entries);
    expect([...(await load())!.entries]).toEqual(entries);
    // Written by an older agent: no birth time, read as unknown.
    await writeFile(file, '{"version":1,"rows":[["a",1,2049,11,4096,5]]}');
    expect([...(await load())!.entries]).toEqual([
      ['a', { kind: 'dir', dev: 2049, ino: 11, size: 4096, mtimeMs: 5, birthtimeMs: 0 }],
    ]);
    expect(reasons).toEqual([]);
    const damaged = {
      '{"version":1,"rows":[["a",0,1,2,3]]}': 'has a malformed row',
      '{"version":2,"rows":[["a",0,1,2,3,4,"x"]]}': 'has a malformed row',
      '{"version":3,"rows":[]}': 'has unknown version 3',
      '{"version":2}': 'holds no rows',
      '{"rows":': 'is not valid JSON (cut short?)',
      '': 'is not valid JSON (cut short?)',
    };
    for (const [text, reason] of Object.entries(damaged)) {
      reasons.length = 0;
      await writeFile(file, text);
      expect(await load()).toBeUndefined();
      expect(reasons).toEqual([reason]);
    }
  } finally {
    await tmp.remove();
  }
});
