import { describe, expect, it } from 'vitest';
import { FsJobStore } from '../../src/adapters/fs-jobs/store.js';
import type { Difference, Job } from '../../src/core/jobs/job.js';
import { DIFFERENCE_CHUNK, DifferenceLog, readDifferencePage } from '../../src/core/jobs/job-store.js';
import { tempDir } from '../support/tmp.js';

const difference = (i: number): Difference => ({
  path: `/user_homes/f${i}`,
  kind: 'missing',
  source: { type: 'file', size: i },
  peer: null,
});

describe('job differences', () => {
  it('append in chunks, page by cursor, and a resumed log drops what its record does not count', async () => {
    const tmp = await tempDir();
    try {
      const store = new FsJobStore(tmp.dir);
      const id = '20261127T055429693Z-000000-9f2c1a';
      const log = await DifferenceLog.open(store, id, 0);
      const total = DIFFERENCE_CHUNK + 250;
      log.append(Array.from({ length: total }, (_, i) => difference(i)));
      await log.flush();
      const job = { id, differences: total } as Job;

      const seen: string[] = [];
      let cursor = 0;
      for (;;) {
        const page = await readDifferencePage(store, job, cursor, 300);
        seen.push(...page.items.map((d) => d.path));
        if (!page.next) break;
        cursor = Number(page.next);
      }
      expect(seen).toEqual(Array.from({ length: total }, (_, i) => `/user_homes/f${i}`));

      // A crash after more were written than the record counts: the resumed log continues at the count.
      const resumed = await DifferenceLog.open(store, id, DIFFERENCE_CHUNK + 10);
      resumed.append([difference(9999)]);
      await resumed.flush();
      const page = await readDifferencePage(
        store,
        { id, differences: DIFFERENCE_CHUNK + 11 } as Job,
        DIFFERENCE_CHUNK + 9,
        10,
      );
      expect(page.items.map((d) => d.path)).toEqual([`/user_homes/f${DIFFERENCE_CHUNK + 9}`, '/user_homes/f9999']);
      expect(page.next).toBeNull();
    } finally {
      await tmp.remove();
    }
  });

  it('lists jobs newest first and removes them whole', async () => {
    const tmp = await tempDir();
    try {
      const store = new FsJobStore(tmp.dir);
      const ids = ['20261127T055429693Z-000000-aaaaaa', '20261128T055429693Z-000000-bbbbbb'];
      for (const id of ids) await store.save({ id } as Job);
      expect(await store.ids()).toEqual([...ids].reverse());
      await store.remove(ids[0]!);
      expect(await store.ids()).toEqual([ids[1]]);
      expect(await store.read(ids[0]!)).toBeUndefined();
    } finally {
      await tmp.remove();
    }
  });
});
