/** What a reservation is for: uploads leave a part of the budget to configuration documents. */
export interface Reservation {
  /**
   * The node the bytes are held for: one node holds at most a quarter of the budget at once (or one body, when it
   * holds nothing else), so that one node sending many bodies slowly cannot take all of it. Unset: not counted per
   * node (the staged bodies of three-step uploads, whose node the journal does not know).
   */
  owner?: string;
  /**
   * An upload's body: it never takes the last eighth of the budget, which configuration documents (which must be
   * held whole, and are refused, not streamed, when there is no room) can always have.
   */
  upload?: boolean;
}

/**
 * Bytes of request bodies held in memory at once, across everything that buffers them (small bodies staged for
 * their commit, one-request uploads received before they are journaled, configuration documents). An upload that
 * cannot reserve streams to disk instead; a configuration document is refused for a moment (429).
 */
export class ByteBudget {
  private used = 0;
  private readonly byOwner = new Map<string, number>();
  /** What uploads leave free for configuration documents. */
  readonly documentReserve: number;
  /** The most one owner holds at once (unless it holds nothing else). */
  readonly ownerShare: number;

  constructor(readonly limit: number) {
    this.documentReserve = Math.floor(limit / 8);
    this.ownerShare = Math.floor(limit / 4);
  }

  /** Reserves `bytes` if they fit; the caller must release them with the same owner. */
  tryReserve(bytes: number, reservation: Reservation = {}): boolean {
    const keepFree = reservation.upload ? this.documentReserve : 0;
    if (this.used + bytes + keepFree > this.limit) return false;
    const { owner } = reservation;
    if (owner !== undefined) {
      const held = this.byOwner.get(owner) ?? 0;
      if (held > 0 && held + bytes > this.ownerShare) return false;
      this.byOwner.set(owner, held + bytes);
    }
    this.used += bytes;
    return true;
  }

  release(bytes: number, owner?: string): void {
    this.used = Math.max(0, this.used - bytes);
    if (owner === undefined) return;
    const left = (this.byOwner.get(owner) ?? 0) - bytes;
    if (left > 0) this.byOwner.set(owner, left);
    else this.byOwner.delete(owner);
  }

  get inUse(): number {
    return this.used;
  }
}

/** The default budget for request bodies in memory. */
export const BODY_MEMORY_BYTES = 64 * 1024 * 1024;
