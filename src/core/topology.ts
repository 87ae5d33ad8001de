import { isReservedPath } from './entry.js';
import { CONFIG_LOCATION, type LaneId, laneId } from './lane.js';
import { isSameOrBelow } from './paths.js';

export interface VfsLocation {
  path: string;
  replicate: boolean;
}

export interface PeerRef {
  name: string;
  /** The node whose own server this peer is (its changes are not sent back to it). */
  node?: string;
}

export interface LaneTarget {
  lane: LaneId;
  peer: string;
  location: string;
}

/**
 * Which lanes a change belongs to: the replicated VFS location its path lies in (the longest matching location
 * decides, so a `replicate: false` folder inside a replicated one is excluded) times every peer, less the peer
 * that is the reporting node's own server.
 */
export class Topology {
  private readonly locations: VfsLocation[];
  /** Lane ids by location and peer: a SHA-256 each, asked for on every change (the locations are the config's). */
  private readonly laneIds = new Map<string, LaneId>();

  constructor(
    locations: readonly VfsLocation[],
    readonly peers: readonly PeerRef[],
  ) {
    this.locations = [...locations].sort((a, b) => b.path.length - a.path.length);
  }

  /** The replicated location holding `path`, or undefined when the path is not replicated. */
  locationOf(path: string): string | undefined {
    // Reserved for configuration documents on the peers: a node that watches its whole root would otherwise
    // report the documents the relay replicated into it as files.
    if (isReservedPath(path)) return undefined;
    const match = this.locations.find((location) => isSameOrBelow(path, location.path));
    return match?.replicate ? match.path : undefined;
  }

  /**
   * True when `path` is a replicated location itself or an ancestor of one: a change that replaces, removes or
   * renames it would take a whole location with it on the peer.
   */
  holdsLocation(path: string): boolean {
    return this.locations.some((location) => location.replicate && isSameOrBelow(location.path, path));
  }

  /** True when `path` is the path of a replicated location. */
  isLocation(path: string): boolean {
    return this.locations.some((location) => location.replicate && location.path === path);
  }

  targets(location: string, fromNode: string | undefined): LaneTarget[] {
    return this.peers
      .filter((peer) => !(fromNode && peer.node === fromNode))
      .map((peer) => ({ lane: this.laneOf(location, peer.name), peer: peer.name, location }));
  }

  private laneOf(location: string, peer: string): LaneId {
    const key = `${location}\n${peer}`;
    let lane = this.laneIds.get(key);
    if (lane === undefined) {
      lane = laneId(location, peer);
      this.laneIds.set(key, lane);
    }
    return lane;
  }

  configTargets(fromNode: string | undefined): LaneTarget[] {
    return this.targets(CONFIG_LOCATION, fromNode);
  }

  /** Every lane this configuration can write to, for lookups by id. */
  allLanes(): LaneTarget[] {
    const locations = [...this.locations.filter((l) => l.replicate).map((l) => l.path), CONFIG_LOCATION];
    return locations.flatMap((location) => this.targets(location, undefined));
  }
}
