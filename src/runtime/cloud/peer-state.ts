import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { isConditionalConflict, isMissingObject, isPreconditionFailed } from '../../adapters/s3-journal/util.js';
import type { PeerState, PeerStatus } from '../../core/peer.js';

export { isWaiting, nextPeerState, statusOf } from '../../core/peer-health.js';

/** A peer's shared state and the version it was read at (for a conditional write). */
export interface VersionedPeerState {
  state: PeerState | undefined;
  version: string | undefined;
}

/**
 * Peer health that several processes share (API, replay and ping Lambdas): who is OFFLINE must be known to
 * every replay worker, and when a peer was last pinged to every pinger.
 */
export interface PeerStateStore {
  read(peer: string): Promise<VersionedPeerState>;
  /** Writes only if the state is still at `version` (undefined: still absent); false when someone wrote first. */
  write(peer: string, state: PeerState, version: string | undefined): Promise<boolean>;
}

/** `<prefix>/peers/<name>.json` beside the journal; peer names are `[A-Za-z0-9._-]` (config schema). */
export class S3PeerStateStore implements PeerStateStore {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
  ) {}

  key(peer: string): string {
    return `${this.prefix === '' ? '' : `${this.prefix}/`}peers/${peer}.json`;
  }

  async read(peer: string): Promise<VersionedPeerState> {
    try {
      const got = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(peer) }));
      const text = (await got.Body?.transformToString('utf8')) ?? '';
      return { state: parseState(text), version: got.ETag };
    } catch (error) {
      if (isMissingObject(error)) return { state: undefined, version: undefined };
      throw error;
    }
  }

  async write(peer: string, state: PeerState, version: string | undefined): Promise<boolean> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.key(peer),
          Body: JSON.stringify(state),
          ContentType: 'application/json',
          ...(version === undefined ? { IfNoneMatch: '*' } : { IfMatch: version }),
        }),
      );
      return true;
    } catch (error) {
      if (isPreconditionFailed(error) || isConditionalConflict(error) || isMissingObject(error)) return false;
      throw error;
    }
  }
}

const STATUSES: readonly PeerStatus[] = ['ONLINE', 'OFFLINE', 'UNAUTHORIZED'];

/** A state object written by someone else is read defensively: anything odd reads as "never seen". */
function parseState(text: string): PeerState | undefined {
  try {
    const value = JSON.parse(text) as Partial<PeerState>;
    if (!value || !STATUSES.includes(value.status as PeerStatus)) return undefined;
    const state: PeerState = { status: value.status as PeerStatus };
    for (const field of ['lastPingAt', 'since', 'lastError', 'retryAt'] as const) {
      if (typeof value[field] === 'string') state[field] = value[field];
    }
    return state;
  } catch {
    return undefined;
  }
}
