import type { S3Objects } from './s3-objects.js';

/**
 * One resync per peer, whichever API process creates it: `<prefix>/jobs-resync/<peer>` holds the id of the resync
 * that has the peer, written with `If-None-Match: *` (two processes creating a resync at once: one gets it). A
 * slot whose resync no longer runs (ended, or its creation died half-way) is taken over with `If-Match` on its
 * ETag, so two processes cannot both take it over either. A resync that ends gives its slot back.
 */
export class ResyncSlots {
  constructor(
    private readonly s3: S3Objects,
    /** Whether the resync of that id still runs (or may: created a moment ago, its record not written yet). */
    private readonly running: (id: string) => Promise<boolean>,
  ) {}

  /** Takes the peer's slot for resync `id`; undefined when taken, else the id of the resync that holds it. */
  async take(peer: string, id: string): Promise<string | undefined> {
    const key = this.key(peer);
    if ((await this.s3.putIf(key, id, { IfNoneMatch: '*' }, 'text/plain')) !== undefined) return undefined;
    const current = await this.read(key);
    if (!current) {
      return (await this.s3.putIf(key, id, { IfNoneMatch: '*' }, 'text/plain')) !== undefined
        ? undefined
        : 'another resync';
    }
    if (current.id === id) return undefined;
    if (await this.running(current.id)) return current.id;
    return (await this.s3.putIf(key, id, { IfMatch: current.etag }, 'text/plain')) !== undefined
      ? undefined
      : current.id;
  }

  /** Gives the peer's slot back if resync `id` holds it. */
  async release(peer: string, id: string): Promise<void> {
    const key = this.key(peer);
    const current = await this.read(key);
    if (current?.id === id) await this.s3.deleteIf(key, current.etag);
  }

  private key(peer: string): string {
    return `${this.s3.root}jobs-resync/${encodeURIComponent(peer)}`;
  }

  private async read(key: string): Promise<{ id: string; etag: string } | undefined> {
    const got = await this.s3.getWithEtag(key);
    return got && { id: got.text.trim(), etag: got.etag };
  }
}
