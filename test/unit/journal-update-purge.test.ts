// update() checked that the entry exists, wrote config.XML and put the entry back into the memory index. A purge
// meanwhile (an operator's skip of an entry in flight; the replayer catches NotFoundError from update) was undone
// in memory: the skipped entry was listed and replayed again, while its folder on disk was gone.
import { describe, expect, it } from 'vitest';
import { FsJournalStore } from '../../src/adapters/fs-journal/store.js';
import { entry } from '../support/journal-conformance.js';
import { tempDir } from '../support/tmp.js';

describe('update racing a purge', () => {
  it('a purge while a status update is under way stays purged, in memory and after a restart', async () => {
    const tmp = await tempDir();
    const store = await FsJournalStore.open(tmp.dir);
    const e = entry({ action: 'delete', path: '/user_homes/gone' });
    await store.create([e]);
    // The replayer records a failed attempt ...
    const updating = store.update({ ...e, attempts: 1, lastError: 'HTTP 503' }).then(
      () => 'updated',
      (error: unknown) => String(error),
    );
    // ... while the operator skips the change (DELETE /v1/changes/{id}).
    await store.purge(e);
    expect(await updating).toBe('updated'); // the purge waited for it
    const listed = (await store.list(e.lane)).map((x) => x.id);
    await store.close();
    const reopened = await FsJournalStore.open(tmp.dir);
    const afterRestart = await reopened.read(e);
    await reopened.close();
    await tmp.remove();
    expect(listed, 'the skipped entry is back in the index (it will be replayed)').not.toContain(e.id);
    expect(afterRestart).toBeUndefined();
  });
});
