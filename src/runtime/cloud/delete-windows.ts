import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { isConditionalConflict, isMissingObject, isPreconditionFailed } from '../../adapters/s3-journal/util.js';
import type { DeleteWindow, DeleteWindowStore } from '../../core/delete-guard.js';
import { LimitExceededError } from '../../core/errors.js';

/** Conditional writes one update tries before it gives up (each lost race means another process counted). */
const MAX_ATTEMPTS = 25;
/** Longest pause between two rounds (the pause is random below a ceiling that doubles each round up to this). */
const MAX_BACKOFF_MS = 500;

/**
 * The delete guard's windows in cloud mode: one small JSON object per origin, `<prefix>/delete-guard/<origin>.json`
 * beside the journal. Any API process (Lambda instance, `serve`) may take a node's next delete, so each update is
 * read → decide → write with `If-Match` the ETag read (`If-None-Match: *` for a new one); a write that lost the race
 * (412, or 409 while another write of the key is in flight) reads and decides again. A node's deletes are thus
 * counted exactly, at the cost of one GET and one PUT per delete (a tripped node's deletes change nothing: one GET).
 * Writers that lost a round wait a random time below a ceiling that doubles each round (full jitter). Under heavy
 * contention for one node an update gives up after a bounded number of rounds with `429 DELETE_GUARD_BUSY`
 * (Retry-After 1): the node retries (the agent does), and nothing is journaled meanwhile.
 */
export class S3DeleteWindows implements DeleteWindowStore {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
  ) {}

  key(origin: string): string {
    // Node names start with a letter or digit, so `_admin` is never one; `job:<id>` is percent-encoded.
    const name = origin === '' ? '_admin' : encodeURIComponent(origin);
    return `${this.prefix === '' ? '' : `${this.prefix}/`}delete-guard/${name}.json`;
  }

  async update<T>(origin: string, step: (window: DeleteWindow) => { window: DeleteWindow; result: T }): Promise<T> {
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const { window, etag } = await this.readVersioned(origin);
      const decided = step(window);
      // Nothing to change (a tripped origin's deletes): the read was the decision; no write, no race to lose.
      if (etag !== undefined && decided.window === window) return decided.result;
      if (await this.write(origin, decided.window, etag)) return decided.result;
      // Full jitter, growing per lost round: writers that keep colliding spread out instead of colliding again.
      // A web-standard timer: the edge API (no Node modules) may compose this store too.
      const ceiling = Math.min(MAX_BACKOFF_MS, 10 * 2 ** attempt);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
    }
    throw new LimitExceededError(
      'DELETE_GUARD_BUSY',
      `too many deletes from ${origin || 'the admin token'} at once for the delete guard to count; send it again`,
      1,
    );
  }

  async clear(origin: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.key(origin) }));
    } catch (error) {
      if (!isMissingObject(error)) throw error;
    }
  }

  async read(origin: string): Promise<DeleteWindow> {
    return (await this.readVersioned(origin)).window;
  }

  private async readVersioned(origin: string): Promise<{ window: DeleteWindow; etag: string | undefined }> {
    try {
      const got = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(origin) }));
      return { window: parseWindow((await got.Body?.transformToString('utf8')) ?? ''), etag: got.ETag };
    } catch (error) {
      if (isMissingObject(error)) return { window: { steps: [] }, etag: undefined };
      throw error;
    }
  }

  private async write(origin: string, window: DeleteWindow, etag: string | undefined): Promise<boolean> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.key(origin),
          Body: JSON.stringify(window),
          ContentType: 'application/json',
          ...(etag === undefined ? { IfNoneMatch: '*' } : { IfMatch: etag }),
        }),
      );
      return true;
    } catch (error) {
      if (isPreconditionFailed(error) || isConditionalConflict(error) || isMissingObject(error)) return false;
      throw error;
    }
  }
}

/**
 * Read defensively (anyone with write access to the bucket could have written it): odd steps are dropped, and a
 * trip survives as long as it reads as one — a damaged object never un-trips an origin by accident.
 */
function parseWindow(text: string): DeleteWindow {
  let value: { steps?: unknown; tripped?: unknown };
  try {
    value = JSON.parse(text) as typeof value;
  } catch {
    return { steps: [], tripped: { at: new Date(0).toISOString(), reason: 'delete guard: unreadable window state' } };
  }
  const steps = Array.isArray(value?.steps)
    ? value.steps.filter(
        (s): s is [number, number] =>
          Array.isArray(s) && s.length === 2 && s.every((n) => Number.isSafeInteger(n) && n >= 0),
      )
    : [];
  const tripped = value?.tripped as { at?: unknown; reason?: unknown } | undefined;
  if (tripped && typeof tripped === 'object') {
    return { steps, tripped: { at: String(tripped.at ?? ''), reason: String(tripped.reason ?? 'delete guard') } };
  }
  return { steps };
}
