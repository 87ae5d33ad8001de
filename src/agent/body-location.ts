import { isSameOrBelow } from './file-index.js';
import type { LocalChange } from './rename-detector.js';

/**
 * Where the bytes of an upload are by the time it is sent:
 * - `at`: in the watched folder under `path` (its own path, or where later renames took it);
 * - `deleted`: a later change removes or overwrites them, so there is nothing to read any more;
 * - `superseded`: a later upload of the same, unmoved path sends the same bytes again.
 */
export type BodyLocation = { kind: 'at'; path: string } | { kind: 'deleted' } | { kind: 'superseded' };

/**
 * Follows an upload of `path` through the changes journaled after it. The outbox records paths, not bytes, so an
 * upload still queued when its file was renamed must read the file under its new name — and must still be sent
 * under the old one, because the queued rename moves it on the peer.
 */
export function locateBody(path: string, later: Iterable<LocalChange>): BodyLocation {
  let here = path;
  // Moved at least once, even if back to `path` since: the queued renames need this upload on the peer.
  let moved = false;
  for (const change of later) {
    switch (change.action) {
      case 'delete':
        if (isSameOrBelow(here, change.path)) return { kind: 'deleted' };
        break;
      case 'rename':
        if (isSameOrBelow(here, change.path)) {
          here = change.target + here.slice(change.path.length);
          moved = true;
        } else if (isSameOrBelow(here, change.target)) return { kind: 'deleted' }; // something was moved over it
        break;
      case 'upload':
        // Only while unmoved: after a rename, this upload must still exist on the peer for the rename to move.
        if (change.path === here && !moved) return { kind: 'superseded' };
        break;
      case 'makedir':
        break;
    }
  }
  return { kind: 'at', path: here };
}
