import type { ChangeIntake } from './intake.js';
import type { Logger } from './logger.js';

export interface UploadExpiryOptions {
  intake: ChangeIntake;
  /** An upload whose body has not moved for this long is dropped (config `limits.uploadIdleExpirySeconds`). */
  idleSeconds: number;
  /**
   * An upload opened this long ago is dropped even while its body arrives (config
   * `limits.uploadMaxLifetimeSeconds`): bounds how long one upload can hold back the changes to its paths.
   */
  lifetimeSeconds?: number;
  logger: Logger;
  /** Told about each upload dropped (metrics). */
  onExpired?: (change: { id: string; node: string | undefined }) => void;
  now?: () => number;
}

/**
 * Drops uploads that never got (or finished) their body: each one holds back every later change to its paths, and
 * a node that opened it and went away would hold them forever. Run by the embedded relay's timer and by the cloud
 * sweep (which finds the candidates in the journal: an upload may have been opened by another process).
 */
export class UploadExpiry {
  /** Uploads dropped since start. */
  expired = 0;

  constructor(private readonly options: UploadExpiryOptions) {}

  /** Checks these upload ids (each again under its lock) and drops the idle ones. Returns how many it dropped. */
  async expire(ids: Iterable<string>): Promise<number> {
    let dropped = 0;
    for (const id of new Set(ids)) {
      const entries = await this.options.intake
        .expireUpload(id, this.options.idleSeconds * 1000, this.lifetimeMs())
        .catch((error) => {
          this.options.logger.error('could not expire an idle upload; the next sweep tries again', {
            entryId: id,
            error,
          });
          return [];
        });
      const home = entries[0];
      if (!home) continue;
      dropped += 1;
      this.expired += 1;
      const fields = { entryId: id, path: home.path, node: home.node, createdAt: home.createdAt };
      const peers = entries.map((e) => e.peer);
      if (this.now() - Date.parse(home.createdAt) >= this.lifetimeMs()) {
        this.options.logger.warn('upload expired: older than its lifetime', {
          ...fields,
          lifetimeSeconds: this.options.lifetimeSeconds,
          peers,
        });
      } else {
        this.options.logger.warn('upload expired: no body activity', {
          ...fields,
          idleSeconds: this.options.idleSeconds,
          peers,
        });
      }
      this.options.onExpired?.({ id, node: home.node });
    }
    return dropped;
  }

  /**
   * Uploads found in the journal (AWAITING_BODY entries, any lane; the cloud sweep lists them anyway): those created
   * longer than the idle time ago are checked. Younger ones cannot be idle yet and cost no request.
   */
  expireFound(entries: Iterable<{ id: string; createdAt: string }>): Promise<number> {
    const now = this.now();
    const youngest = Math.min(this.options.idleSeconds * 1000, this.lifetimeMs());
    const old: string[] = [];
    for (const e of entries) if (now - Date.parse(e.createdAt) >= youngest) old.push(e.id);
    return this.expire(old);
  }

  private lifetimeMs(): number {
    return (this.options.lifetimeSeconds ?? Number.POSITIVE_INFINITY) * 1000;
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** Every upload this process opened and still lists (embedded: all of them; a restart forgets unfinished ones). */
  expireKnown(): Promise<number> {
    return this.expire(this.options.intake.ledger.ids());
  }
}
