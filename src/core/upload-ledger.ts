/**
 * What this process knows about uploads still waiting for their body: who opened each, when its body last moved,
 * whether a body is arriving right now. It backs the per-node cap on unfinished uploads and the expiry of idle
 * ones. The journal stays the source of truth: an id listed here may be gone (committed elsewhere, skipped), and
 * readers check before they act.
 */
export class UploadLedger {
  private readonly uploads = new Map<
    string,
    { node: string | undefined; openedAt: number; activeAt: number; receiving: number; cutOffs: Set<() => void> }
  >();

  opened(id: string, node: string | undefined, at: number): void {
    this.uploads.set(id, { node, openedAt: at, activeAt: at, receiving: 0, cutOffs: new Set() });
  }

  /** True when this process opened the upload for someone other than `node` (a node token's caller). */
  openedForAnother(id: string, node: string): boolean {
    const upload = this.uploads.get(id);
    return upload !== undefined && upload.node !== node;
  }

  /**
   * A body starts arriving: the upload counts as active until the returned function is called (at its end).
   * `cutOff` stops that body early (see cutOff below).
   */
  receiving(id: string, at: number, cutOff: () => void = () => {}): (at: number) => void {
    const upload = this.uploads.get(id);
    if (!upload) return () => {};
    upload.receiving += 1;
    upload.activeAt = Math.max(upload.activeAt, at);
    upload.cutOffs.add(cutOff);
    let done = false;
    return (end) => {
      if (done) return;
      done = true;
      upload.receiving -= 1;
      upload.cutOffs.delete(cutOff);
      upload.activeAt = Math.max(upload.activeAt, end);
    };
  }

  /** Stops the bodies of this upload being received now (an upload past its lifetime); true if there was one. */
  cutOff(id: string): boolean {
    const cutOffs = this.uploads.get(id)?.cutOffs;
    if (!cutOffs || cutOffs.size === 0) return false;
    for (const cut of [...cutOffs]) cut();
    return true;
  }

  closed(id: string): void {
    this.uploads.delete(id);
  }

  /** When this process opened the upload, if it did. */
  openedAt(id: string): number | undefined {
    return this.uploads.get(id)?.openedAt;
  }

  /** When the upload's body last moved (or it was opened), if this process knows it. */
  activeAt(id: string): number | undefined {
    return this.uploads.get(id)?.activeAt;
  }

  isReceiving(id: string): boolean {
    return (this.uploads.get(id)?.receiving ?? 0) > 0;
  }

  /** Unfinished uploads opened by `node` (the admin token: undefined). */
  idsOf(node: string | undefined): string[] {
    return [...this.uploads].filter(([, u]) => u.node === node).map(([id]) => id);
  }

  ids(): string[] {
    return [...this.uploads.keys()];
  }
}
