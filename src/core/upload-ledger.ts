/**
 * What this process knows about uploads still waiting for their body: who opened each, when its body last moved,
 * whether a body is arriving right now. It backs the per-node cap on unfinished uploads and the expiry of idle
 * ones. The journal stays the source of truth: an id listed here may be gone (committed elsewhere, skipped), and
 * readers check before they act.
 */
export class UploadLedger {
  private readonly uploads = new Map<string, { node: string | undefined; activeAt: number; receiving: number }>();

  opened(id: string, node: string | undefined, at: number): void {
    this.uploads.set(id, { node, activeAt: at, receiving: 0 });
  }

  /** True when this process opened the upload for someone other than `node` (a node token's caller). */
  openedForAnother(id: string, node: string): boolean {
    const upload = this.uploads.get(id);
    return upload !== undefined && upload.node !== node;
  }

  /** A body starts arriving: the upload counts as active until the returned function is called (at its end). */
  receiving(id: string, at: number): (at: number) => void {
    const upload = this.uploads.get(id);
    if (!upload) return () => {};
    upload.receiving += 1;
    upload.activeAt = Math.max(upload.activeAt, at);
    let done = false;
    return (end) => {
      if (done) return;
      done = true;
      upload.receiving -= 1;
      upload.activeAt = Math.max(upload.activeAt, end);
    };
  }

  closed(id: string): void {
    this.uploads.delete(id);
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
