/**
 * Bytes of request bodies held in memory at once, across everything that buffers them (small bodies staged for
 * their commit, one-request uploads received before they are journaled). Who cannot reserve streams to disk
 * instead: the budget bounds memory, never refuses a request.
 */
export class ByteBudget {
  private used = 0;

  constructor(readonly limit: number) {}

  /** Reserves `bytes` if they fit; the caller must release them. */
  tryReserve(bytes: number): boolean {
    if (this.used + bytes > this.limit) return false;
    this.used += bytes;
    return true;
  }

  release(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }

  get inUse(): number {
    return this.used;
  }
}

/** The default budget for request bodies in memory. */
export const BODY_MEMORY_BYTES = 64 * 1024 * 1024;
