import type { Action, JournalEntry } from '../../src/core/entry.js';
import { CONFIG_LOCATION, laneId } from '../../src/core/lane.js';
import { StampClock } from '../../src/core/stamp.js';

const clock = new StampClock();

/**
 * A journal entry as the replayer hands it to a peer adapter: `action` on `path`, in the lane of its location
 * (`/user_homes`, or the configuration documents' for config_put/config_delete) and `peer`.
 */
export function peerEntry(
  action: Action,
  path: string,
  extra: Partial<JournalEntry> = {},
  peer = 'apache',
): JournalEntry {
  const location = action === 'config_put' || action === 'config_delete' ? CONFIG_LOCATION : '/user_homes';
  return {
    id: clock.next(),
    lane: laneId(location, peer),
    peer,
    location,
    action,
    path,
    createdAt: new Date().toISOString(),
    status: 'PENDING',
    attempts: 0,
    ...extra,
  };
}
