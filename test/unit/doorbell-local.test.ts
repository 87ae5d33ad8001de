import { FsJournalStore } from '../../src/adapters/fs-journal/store.js';
import { silentLogger } from '../../src/core/logger.js';
import { PeerHealth } from '../../src/core/peer-health.js';
import { Replayer } from '../../src/core/replayer.js';
import { doorbellConformance, RecordingPeer } from '../support/doorbell-conformance.js';
import { tempDir } from '../support/tmp.js';

// The in-process doorbell is the replayer itself: ringing it is what makes it dispatch.
doorbellConformance('in-process (the replayer)', async () => {
  const tmp = await tempDir();
  const store = await FsJournalStore.open(tmp.dir);
  const peer = new RecordingPeer();
  const peers = new Map([[peer.name, peer]]);
  const replayer = new Replayer({ store, peers, health: new PeerHealth(peers, silentLogger), logger: silentLogger });
  return {
    store,
    doorbell: replayer,
    peer,
    close: async () => {
      await replayer.stop();
      await store.close();
      await tmp.remove();
    },
  };
});
