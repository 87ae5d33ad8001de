/**
 * Tells the replayer about new changes in the order of their ids. A change gets its id (its place in the lane)
 * before it is journaled, and journaling takes a little while (the delete guard, a group commit's fsync): two
 * changes to one path taken at the same moment could otherwise be rung newer first, and the replayer, not knowing
 * the older one yet, would send the newer one before it. Each id is opened as it is handed out; its delivery (the
 * ring, or the announcement of an upload waiting for its body) runs once every id opened before it has settled
 * (delivered, or given up because the change was not journaled). Only short steps lie between an id and its
 * settling: a one-request upload gets its id after its body is in (src/core/intake.ts).
 */
export class StampOrder {
  private readonly open = new Map<string, Pending>();
  private flushing = false;

  /** An id was handed out: what is settled after it waits for it. Call in the order the ids were made. */
  opened(id: string): void {
    this.open.set(id, { deliver: undefined, settled: false, done: undefined });
  }

  /**
   * The change of `id` is journaled (`deliver` tells the replayer) or not journaled after all (no `deliver`).
   * Resolves once its delivery ran, after those of every older id; rejects with the delivery's own failure.
   */
  settle(id: string, deliver?: () => Promise<void>): Promise<void> {
    const pending = this.open.get(id);
    if (!pending) return deliver ? deliver() : Promise.resolve();
    const done = new Promise<void>((resolve, reject) => {
      pending.done = { resolve, reject };
    });
    pending.deliver = deliver;
    pending.settled = true;
    void this.flush();
    return done;
  }

  /** Ids handed out and not settled yet (tests, metrics). */
  get size(): number {
    return this.open.size;
  }

  private async flush(): Promise<void> {
    if (this.flushing) return; // the running flush picks this one up
    this.flushing = true;
    try {
      for (;;) {
        const first = this.open.entries().next();
        if (first.done || !first.value[1].settled) return;
        const [id, pending] = first.value;
        this.open.delete(id);
        try {
          await pending.deliver?.();
          pending.done?.resolve();
        } catch (error) {
          pending.done?.reject(error);
        }
      }
    } finally {
      this.flushing = false;
    }
  }
}

interface Pending {
  deliver: (() => Promise<void>) | undefined;
  settled: boolean;
  done: { resolve: () => void; reject: (error: unknown) => void } | undefined;
}
