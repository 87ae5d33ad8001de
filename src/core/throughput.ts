/** Applied changes and bytes per peer over the last minutes, bucket by bucket (oldest first). */
export interface ThroughputSeries {
  /** Length of one bucket, in seconds. */
  intervalSeconds: number;
  /** Start of the first bucket (ISO 8601). The last bucket ends where the current, still open one begins. */
  from: string;
  peers: PeerThroughput[];
}

export interface PeerThroughput {
  peer: string;
  /** Changes applied on the peer, per bucket. */
  changes: number[];
  /** Body bytes applied on the peer, per bucket. */
  bytes: number[];
}

export interface ThroughputOptions {
  /** Default 5 s. */
  intervalSeconds?: number;
  /** How many closed buckets are kept (default 120: ten minutes of 5 s buckets). */
  buckets?: number;
  now?: () => number;
}

/** One peer's ring: slot i holds bucket number `bucket[i]`, or a bucket that has since fallen out of the window. */
interface Ring {
  bucket: Float64Array;
  changes: Float64Array;
  bytes: Float64Array;
}

/**
 * Counts what the replayer applied, per peer, in fixed time buckets kept in a ring: memory is fixed (peers ×
 * buckets), whatever the rate. Only the peers named at construction are counted. The open bucket is left out of
 * `series()`, so a rate is never computed over part of a bucket.
 */
export class ThroughputMeter {
  private readonly intervalMs: number;
  private readonly slots: number;
  private readonly now: () => number;
  private readonly rings = new Map<string, Ring>();

  constructor(peers: readonly string[], options: ThroughputOptions = {}) {
    this.intervalMs = (options.intervalSeconds ?? 5) * 1000;
    // One slot more than the window: the open bucket lives in it.
    this.slots = (options.buckets ?? 120) + 1;
    this.now = options.now ?? Date.now;
    for (const peer of peers) {
      this.rings.set(peer, {
        bucket: new Float64Array(this.slots).fill(-1),
        changes: new Float64Array(this.slots),
        bytes: new Float64Array(this.slots),
      });
    }
  }

  /** One change applied on `peer`, carrying `bytes` of body (0 for changes without one). */
  record(peer: string, bytes: number): void {
    const ring = this.rings.get(peer);
    if (!ring) return;
    const bucket = Math.floor(this.now() / this.intervalMs);
    const slot = this.slotOf(bucket);
    if (ring.bucket[slot] !== bucket) {
      ring.bucket[slot] = bucket;
      ring.changes[slot] = 0;
      ring.bytes[slot] = 0;
    }
    ring.changes[slot]! += 1;
    ring.bytes[slot]! += bytes;
  }

  /** Buckets before the epoch (a clock near 0 in tests) still map to a slot. */
  private slotOf(bucket: number): number {
    return ((bucket % this.slots) + this.slots) % this.slots;
  }

  series(): ThroughputSeries {
    const open = Math.floor(this.now() / this.intervalMs);
    const first = open - (this.slots - 1);
    const peers: PeerThroughput[] = [];
    for (const [peer, ring] of this.rings) {
      const changes: number[] = [];
      const bytes: number[] = [];
      for (let bucket = first; bucket < open; bucket += 1) {
        const slot = this.slotOf(bucket);
        const current = ring.bucket[slot] === bucket;
        changes.push(current ? ring.changes[slot]! : 0);
        bytes.push(current ? ring.bytes[slot]! : 0);
      }
      peers.push({ peer, changes, bytes });
    }
    return {
      intervalSeconds: this.intervalMs / 1000,
      from: new Date(first * this.intervalMs).toISOString(),
      peers,
    };
  }
}
