import { toHex } from './bytes.js';
import { sha256OfText } from './digest.js';

/**
 * A lane is one (replicated VFS location, peer) pair; its id is the folder name under `multi_journal/`.
 * It is the first 16 hex digits of SHA-256 over `"<vfs location>\n<peer name>"`, so it is stable across restarts
 * and machines and changes only when the location or the peer is renamed. Configuration documents use the
 * pseudo-location `config:` (they live outside every VFS location).
 */
export type LaneId = string;

export const CONFIG_LOCATION = 'config:';
export const LANE_PATTERN = /^[0-9a-f]{16}$/;

export function laneId(location: string, peer: string): LaneId {
  return toHex(sha256OfText(`${location}\n${peer}`)).slice(0, 16);
}

export function isLaneId(value: string): boolean {
  return LANE_PATTERN.test(value);
}
