import { isSameOrBelow } from '../paths.js';
import { Topology, type VfsLocation } from '../topology.js';

/**
 * Which paths a job compares: those inside a replicated VFS location ('in'). Folders above a location are walked
 * through to reach it but never compared ('through'); everything else, including the reserved `/.vfs-relay/`
 * tree, is left alone ('out').
 */
export type Scope = 'in' | 'through' | 'out';

export class JobScope {
  private readonly topology: Topology;
  private readonly replicated: string[];

  constructor(locations: readonly VfsLocation[]) {
    this.topology = new Topology(locations, []);
    this.replicated = locations.filter((l) => l.replicate).map((l) => l.path);
  }

  of(path: string): Scope {
    if (this.topology.locationOf(path)) return 'in';
    return this.replicated.some((l) => l !== path && isSameOrBelow(l, path)) ? 'through' : 'out';
  }

  /** The replicated location holding `path` (its lane's location), or undefined. */
  locationOf(path: string): string | undefined {
    return this.topology.locationOf(path);
  }

  /** A location's own folder: never removed or replaced by a job (CONTRACT "LOCATION_ROOT"). */
  isLocationRoot(path: string): boolean {
    return this.replicated.includes(path);
  }
}
