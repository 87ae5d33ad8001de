import {
  DeleteObjectCommand,
  DeleteObjectTaggingCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutObjectTaggingCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { type ByteStream, releaseStream } from '../../core/bytes.js';
import { type EntryRef, isUploadLike, type JournalEntry } from '../../core/entry.js';
import { decodeEntry, encodeEntry, MAX_ENTRY_XML_BYTES } from '../../core/entry-xml.js';
import { EntryCodecError, JournalStorageError, NotFoundError, StateConflictError } from '../../core/errors.js';
import type { BodyDigest, CreateOptions, JournalStore, ListOptions } from '../../core/journal.js';
import { isLaneId, type LaneId } from '../../core/lane.js';
import { isStamp } from '../../core/stamp.js';
import { BatchedDelete } from './batched-delete.js';
import { copyObject, digestObject, readPinnedBody, type StoredDigest, uploadBody } from './body.js';
import { ENTRY_FILE, JournalKeys, normalizePrefix, parseS3Url } from './keys.js';
import { DEFAULT_UPLOAD_URL_SECONDS, type PresignedUpload, presignPut } from './presign.js';
import { isConditionalConflict, isMissingObject, isPreconditionFailed, mapLimit } from './util.js';

/** Same shape as the filesystem store's warnings; `path` is the object's `s3://bucket/key`. */
export interface S3JournalWarning {
  message: string;
  path: string;
}

export interface S3JournalOptions {
  /** Unreadable config.XML, objects that are not entries: reported here (once per object version), never thrown. */
  onWarning?: (warning: S3JournalWarning) => void;
  /** `close()` destroys the client (set by `fromUrl`, which creates it). Default false: the client is shared. */
  ownsClient?: boolean;
  /** Parallel requests when listing, creating or publishing (default 16). */
  concurrency?: number;
  /** Lifetime of presigned upload URLs in seconds (default 300). */
  uploadUrlSeconds?: number;
  /** Decoded config.XML kept in memory, validated by ETag on every listing (default 100,000 entries). */
  entryCacheSize?: number;
  /** Body digests kept in memory (default MAX_DIGESTS: see rememberDigest). */
  digestCacheSize?: number;
  /** Bodies up to this size are copied with one CopyObject, larger ones part by part (default and max 5 GiB). */
  singleCopyLimit?: number;
  /** Part size of multipart copies (default 512 MiB). */
  copyPartSize?: number;
}

interface CachedEntry {
  etag: string | undefined;
  /** undefined: the object at this ETag does not decode (already reported). */
  entry: JournalEntry | undefined;
}

interface ListedConfig {
  id: string;
  key: string;
  etag: string | undefined;
}

const LIST_PAGE = 1000;
const UPDATE_ATTEMPTS = 5;
const XML_CONTENT_TYPE = 'application/xml; charset=utf-8';

/** Body digests kept in memory at most (see S3JournalStore.rememberDigest). */
export const MAX_DIGESTS = 10_000;

/**
 * The journal in an S3 bucket, under the same layout as the folder store:
 * `<prefix>/multi_journal/<lane>/<id>/config.XML` and `…/upload`.
 *
 * Durability comes from S3 itself: an object is visible only once it is complete, and every acknowledged write
 * is durable, so there are no temporary names and nothing to recover at start. The store keeps no state that
 * matters across processes (several Lambdas may share one journal): an in-memory cache of decoded config.XML is
 * validated by ETag on every listing, and body digests taken while writing are reused only while the object's
 * ETag is unchanged.
 *
 * Ordering: keys sort lexically and ids are fixed-width time stamps, so listing a lane is oldest first.
 * Visibility: an entry exists while its config.XML exists. Written first, deleted first: an `upload` object
 * without a config.XML (a body PUT after its entry was purged, a purge cut short) is ignored.
 */
export class S3JournalStore implements JournalStore {
  readonly keys: JournalKeys;
  private readonly digests = new Map<string, StoredDigest>();
  private readonly cache = new Map<string, CachedEntry>();
  private readonly warned = new Set<string>();
  private readonly onWarning: (warning: S3JournalWarning) => void;
  private readonly concurrency: number;
  private readonly cacheSize: number;
  private readonly digestCacheSize: number;
  private readonly deletes: BatchedDelete;
  private readonly loading = new Map<string, Promise<JournalEntry | undefined>>();

  /** Without leading or trailing slashes; '' for the bucket's root. */
  readonly prefix: string;

  constructor(
    readonly client: S3Client,
    readonly bucket: string,
    prefix = '',
    private readonly options: S3JournalOptions = {},
  ) {
    this.prefix = normalizePrefix(prefix);
    this.keys = new JournalKeys(this.prefix);
    this.onWarning = options.onWarning ?? (() => {});
    this.concurrency = Math.max(1, options.concurrency ?? 16);
    this.cacheSize = Math.max(0, options.entryCacheSize ?? 100_000);
    this.digestCacheSize = Math.max(1, options.digestCacheSize ?? MAX_DIGESTS);
    this.deletes = new BatchedDelete(client, bucket);
  }

  /**
   * Opens `s3://bucket/prefix` with a client of its own (closed by `close()`). Region, credentials and endpoint
   * come from the standard AWS SDK environment unless `clientConfig` says otherwise; with a custom endpoint
   * (`AWS_ENDPOINT_URL[_S3]` or `clientConfig.endpoint`: moto, MinIO, LocalStack) path-style addressing is the
   * default, as such servers rarely resolve `<bucket>.<host>`.
   */
  static fromUrl(url: string, clientConfig: S3ClientConfig = {}, options: S3JournalOptions = {}): S3JournalStore {
    const { bucket, prefix } = parseS3Url(url);
    const customEndpoint =
      clientConfig.endpoint !== undefined || Boolean(process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL);
    const client = new S3Client({ ...(customEndpoint && { forcePathStyle: true }), ...clientConfig });
    return new S3JournalStore(client, bucket, prefix, { ownsClient: true, ...options });
  }

  /** `s3://bucket/prefix`, for logs and operators. */
  get url(): string {
    return `s3://${this.bucket}/${this.prefix}`;
  }

  /**
   * Writes each entry's config.XML (one PUT each, atomic per object). `durable: false` is accepted and ignored:
   * S3 has no cheaper non-durable write, and in cloud mode the entry must be visible to the process that takes
   * the commit, which is rarely the one that created it. Unlike the folder store, an unpublished upload therefore
   * outlives a restart (as AWAITING_BODY) until it is committed or purged.
   */
  async create(entries: readonly JournalEntry[], _options: CreateOptions = {}): Promise<void> {
    const made: JournalEntry[] = [];
    try {
      await mapLimit(entries, this.concurrency, async (entry) => {
        await this.createOne(entry);
        made.push(entry);
      });
    } catch (error) {
      // All lanes or none, as the folder store's one log record: the node is told the change failed and sends it
      // again under a new id, so the lanes written already would replay it twice. Unless a replay has taken one
      // up meanwhile (it is then no longer as written), they are taken back; the first error is what the node hears.
      await Promise.allSettled(
        made.map((entry) =>
          this.purgeIf(entry, (now) => now.status === entry.status && now.attempts === entry.attempts),
        ),
      );
      throw error;
    }
  }

  async read(ref: EntryRef): Promise<JournalEntry | undefined> {
    if (!isRef(ref)) return undefined;
    const entry = await this.fetchConfig(ref, this.keys.config(ref));
    return entry && { ...entry };
  }

  async update(entry: JournalEntry): Promise<void> {
    if (!isRef(entry)) throw notFound(entry);
    const tags = isUploadLike(entry.action) && (isParked(entry) || entry.attempts > 0);
    // Un-parked (retried): the body loses its tag first. The other way round, a failure in between left a PENDING
    // entry whose body the retention rule could expire.
    if (tags && !isParked(entry)) await this.tagBody(entry);
    await this.replaceConfig(entry);
    // Parked: the body is tagged once config.XML says so (a failure in between leaves a parked entry untagged:
    // kept longer, never lost).
    if (tags && isParked(entry)) await this.tagBody(entry);
  }

  /**
   * A parked entry's objects carry the tag `vfs-relay-parked=true`, so that the deployment's optional retention
   * rule can expire entries an operator never dealt with (and nothing else). config.XML gets it with each write;
   * the body here. A retried entry loses it again.
   */
  private async tagBody(entry: JournalEntry): Promise<void> {
    const Key = this.keys.body(entry);
    try {
      if (isParked(entry)) {
        const TagSet = [{ Key: PARKED_TAG_KEY, Value: 'true' }];
        await this.client.send(new PutObjectTaggingCommand({ Bucket: this.bucket, Key, Tagging: { TagSet } }));
      } else {
        await this.client.send(new DeleteObjectTaggingCommand({ Bucket: this.bucket, Key }));
      }
    } catch (error) {
      if (!isMissingObject(error)) throw error; // no body (yet): nothing to tag
    }
  }

  async list(lane: LaneId, options: ListOptions = {}): Promise<JournalEntry[]> {
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    if (!isLaneId(lane) || limit <= 0) return [];
    const found: JournalEntry[] = [];
    let batch: ListedConfig[] = [];
    const flush = async () => {
      const loaded = await mapLimit(batch, this.concurrency, (listed) => this.loadListed(lane, listed));
      batch = [];
      for (const entry of loaded) if (entry) found.push({ ...entry });
    };
    // Small pages when only a few entries are wanted; an entry is read in batches so that `limit` stops early.
    const pageSize = Number.isFinite(limit) ? Math.min(LIST_PAGE, limit + 8) : LIST_PAGE;
    for await (const listed of this.listConfigs(lane, options.after, pageSize)) {
      batch.push(listed);
      if (batch.length >= Math.min(LIST_PAGE, limit - found.length)) {
        await flush();
        if (found.length >= limit) break;
      }
    }
    if (batch.length > 0) await flush();
    return found.slice(0, limit);
  }

  async lanes(): Promise<LaneId[]> {
    const lanes: LaneId[] = [];
    for await (const prefix of this.commonPrefixes(this.keys.root)) {
      const name = prefix.slice(this.keys.root.length, -1);
      if (isLaneId(name)) lanes.push(name);
      else this.warnOnce(prefix, 'ignoring a folder that is not a lane', prefix);
    }
    return lanes;
  }

  /**
   * Deletes config.XML first (the entry disappears at once, and a purge cut short can never leave a PENDING entry
   * without its body), then the body. Each goes in a DeleteObjects request shared with the purges running at the
   * same time (a replay worker purges many entries at once): two requests for a batch instead of three per entry.
   */
  async purge(ref: EntryRef): Promise<void> {
    if (!isRef(ref)) return;
    const configKey = this.keys.config(ref);
    await this.deletes.delete(configKey);
    await this.dropBody(ref, configKey);
  }

  /** After config.XML is deleted: forgets what was cached of the entry, and deletes its body. */
  private async dropBody(ref: EntryRef, configKey: string): Promise<void> {
    this.cache.delete(configKey);
    this.digests.delete(this.keys.body(ref));
    await this.deletes.delete(this.keys.body(ref));
  }

  /**
   * Deletes config.XML with `If-Match` on the ETag it was read with, so that a commit (or any rewrite) by another
   * process in between wins; then the body.
   */
  async purgeIf(ref: EntryRef, still: (entry: JournalEntry) => boolean): Promise<boolean> {
    if (!isRef(ref)) return false;
    const configKey = this.keys.config(ref);
    const got = await this.getText(configKey);
    if (!got || got.etag === undefined) return false;
    let entry: JournalEntry;
    try {
      entry = decodeConfig(ref, got.text);
    } catch (error) {
      if (error instanceof EntryCodecError) return false;
      throw error;
    }
    if (!still(entry)) return false;
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: configKey, IfMatch: got.etag }));
    } catch (error) {
      if (isPreconditionFailed(error)) return false;
      // Gone since it was read: deleted by this very request, whose answer was lost and which the SDK sent again
      // (a rewrite never deletes; only a purge does). Its body goes too, or nothing would ever remove it.
      if (!isMissingObject(error)) throw error;
    }
    await this.dropBody(ref, configKey);
    return true;
  }

  /**
   * Streams the body to the entry's `upload` object (multipart: 8 MiB parts, 2 in flight), hashing on the way.
   * More than `maxBytes` bytes: PayloadTooLargeError, the multipart upload is aborted and nothing new is visible.
   * A body already stored under that key stays as it was (as the folder store keeps it: the new one never
   * replaced it).
   */
  async writeBody(ref: EntryRef, body: ByteStream, maxBytes: number): Promise<BodyDigest> {
    const key = this.keys.body(ref);
    const digest = await uploadBody(this.client, this.bucket, key, body, maxBytes);
    this.rememberDigest(key, digest);
    return { size: digest.size, sha256: digest.sha256 };
  }

  /**
   * The digest taken while writing, if the object still has the ETag it had then (one HEAD); otherwise the
   * object is streamed through SHA-256 (a body PUT straight to S3 through a presigned URL, or after a restart).
   */
  async bodyDigest(ref: EntryRef): Promise<BodyDigest | undefined> {
    const key = this.keys.body(ref);
    const cached = this.digests.get(key);
    if (cached?.etag !== undefined) {
      const head = await this.head(key);
      if (!head) {
        this.digests.delete(key);
        return undefined;
      }
      if (head.etag === cached.etag && head.size === cached.size) return { size: cached.size, sha256: cached.sha256 };
    }
    const digest = await digestObject(this.client, this.bucket, key);
    if (!digest) {
      this.digests.delete(key);
      return undefined;
    }
    this.rememberDigest(key, digest);
    return { size: digest.size, sha256: digest.sha256 };
  }

  /**
   * Bodies first, config.XML last: each other lane gets a server-side copy of `bodyFrom`'s body (CopyObject, or
   * UploadPartCopy above 5 GiB), pinned to the ETag of the body that was verified, then every entry's config.XML
   * is rewritten (now PENDING) where it still exists, with the ETag of its lane's copy (`bodyEtag`): replay reads
   * that version and no other, so a body PUT again to the presigned URL after the commit is never replayed. A body
   * that changed since it was verified fails the publish with BODY_CHANGED before any entry reads PENDING.
   *
   * Atomic per lane, not across lanes: if the process dies between two config.XML writes, some lanes read
   * PENDING and the others still AWAITING_BODY; committing again finishes the rest.
   */
  async publish(entries: readonly JournalEntry[], bodyFrom: EntryRef): Promise<void> {
    const sourceKey = this.keys.body(bodyFrom);
    const source = await this.head(sourceKey);
    if (!source) throw new NotFoundError('BODY_MISSING', `the entry ${bodyFrom.lane}/${bodyFrom.id} has no body`);
    let verified = this.digests.get(sourceKey);
    if (!verified?.etag && bodyFrom && entries[0]?.sha256) {
      // The digest the commit checked is no longer kept (rememberDigest's bound): hashed again, against what the
      // node declared, so that a body PUT again since still fails the publish instead of being pinned.
      const now = await this.bodyDigest(bodyFrom);
      if (!now || now.sha256 !== entries[0].sha256 || now.size !== entries[0].size) throw bodyChanged(bodyFrom);
      verified = this.digests.get(sourceKey);
    }
    if (verified?.etag !== undefined && (verified.etag !== source.etag || verified.size !== source.size)) {
      throw bodyChanged(bodyFrom);
    }
    const copies = [...new Map(entries.map((e) => [this.keys.body(e), e])).values()].filter(
      (e) => this.keys.body(e) !== sourceKey,
    );
    const pins = new Map<string, string | undefined>([[sourceKey, verified?.etag ?? source.etag]]);
    await mapLimit(copies, Math.min(this.concurrency, 4), async (entry) => {
      const target = this.keys.body(entry);
      let etag: string | undefined;
      try {
        etag = await copyObject(this.client, this.bucket, sourceKey, target, {
          size: source.size,
          ifMatch: source.etag,
          singleCopyLimit: this.options.singleCopyLimit,
          partSize: this.options.copyPartSize,
        });
      } catch (error) {
        if (isPreconditionFailed(error)) throw bodyChanged(bodyFrom);
        if (isMissingObject(error))
          throw new NotFoundError('BODY_MISSING', `the entry ${bodyFrom.lane}/${bodyFrom.id} has no body`);
        throw error;
      }
      if (verified) this.rememberDigest(target, { size: verified.size, sha256: verified.sha256, etag });
      else this.digests.delete(target);
      pins.set(target, etag);
    });
    await mapLimit(entries, this.concurrency, (entry) => {
      const bodyEtag = pins.get(this.keys.body(entry));
      return this.replaceConfig(bodyEtag === undefined ? entry : { ...entry, bodyEtag });
    });
  }

  async discardBody(ref: EntryRef): Promise<void> {
    const key = this.keys.body(ref);
    this.digests.delete(key);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  /**
   * The body as a stream straight from GetObject (nothing buffered here): given the entry, exactly the version
   * verified at commit (`bodyEtag`; for entries without one, checked against `size` and `sha256` on the way) —
   * anything else is a BodyChangedError, and the replay parks the entry FAILED.
   */
  async readBody(ref: EntryRef & Pick<Partial<JournalEntry>, 'bodyEtag' | 'size' | 'sha256'>): Promise<ByteStream> {
    try {
      const pin = { etag: ref.bodyEtag, size: ref.size, sha256: ref.sha256 };
      return await readPinnedBody(
        this.client,
        this.bucket,
        this.keys.body(ref),
        pin,
        `the body of ${ref.lane}/${ref.id}`,
      );
    } catch (error) {
      if (isMissingObject(error))
        throw new NotFoundError('BODY_MISSING', `the entry ${ref.lane}/${ref.id} has no body`);
      throw error;
    }
  }

  /** The newest id of every lane (each lane listed to its end: S3 lists in ascending order only). */
  async newestId(): Promise<string | undefined> {
    const newest = await mapLimit(await this.lanes(), 8, async (lane) => {
      let last: string | undefined;
      for await (const prefix of this.commonPrefixes(this.keys.lane(lane))) {
        const id = prefix.slice(this.keys.lane(lane).length, -1);
        if (isStamp(id) && (!last || id > last)) last = id;
      }
      return last;
    });
    return newest.reduce<string | undefined>(
      (a, b) => (b !== undefined && (a === undefined || b > a) ? b : a),
      undefined,
    );
  }

  async close(): Promise<void> {
    this.cache.clear();
    this.digests.clear();
    if (this.options.ownsClient) this.client.destroy();
  }

  /**
   * Where a node PUTs the body of `entry` (the home entry of an upload) straight to S3: a presigned URL binding
   * Content-Length to `entry.size` and, when the change declared one, x-amz-checksum-sha256 to `entry.sha256`.
   */
  async uploadTarget(entry: JournalEntry, options: { expiresIn?: number } = {}): Promise<PresignedUpload> {
    if (entry.size === undefined) throw new Error(`entry ${entry.lane}/${entry.id} has no size: it is not an upload`);
    return presignPut(this.client, this.bucket, this.keys.body(entry), {
      size: entry.size,
      sha256: entry.sha256,
      expiresIn: options.expiresIn ?? this.options.uploadUrlSeconds ?? DEFAULT_UPLOAD_URL_SECONDS,
    });
  }

  private async createOne(entry: JournalEntry): Promise<void> {
    const key = this.keys.config(entry);
    const xml = encodeEntry(entry);
    try {
      const result = await this.putXml(key, xml, { IfNoneMatch: '*' });
      this.remember(key, result.ETag, entry);
    } catch (error) {
      if (!isPreconditionFailed(error)) throw error;
      // Already there: our own write whose answer was lost and retried, or a genuine clash of ids.
      const existing = await this.getText(key);
      if (existing?.text !== xml) {
        throw new StateConflictError('CHANGE_EXISTS', `the journal already holds an entry ${entry.lane}/${entry.id}`);
      }
      this.remember(key, existing.etag, entry);
    }
  }

  /**
   * Rewrites an existing config.XML: a conditional PUT (If-Match on its current ETag), so an entry purged
   * meanwhile is never brought back, and a concurrent rewrite is answered by trying again (last writer wins, as
   * with a rename). The ETag known from the last read or listing saves the HEAD in the common case.
   */
  private async replaceConfig(entry: JournalEntry): Promise<void> {
    const key = this.keys.config(entry);
    const xml = encodeEntry(entry);
    let etag = this.cache.get(key)?.etag;
    for (let attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
      if (etag === undefined) {
        const head = await this.head(key);
        if (!head) throw notFound(entry);
        etag = head.etag ?? '*';
      }
      try {
        const result = await this.putXml(key, xml, { IfMatch: etag }, isParked(entry));
        this.remember(key, result.ETag, entry);
        return;
      } catch (error) {
        if (isMissingObject(error)) {
          this.cache.delete(key);
          throw notFound(entry);
        }
        if (!isPreconditionFailed(error) && !isConditionalConflict(error)) throw error;
        etag = undefined;
      }
    }
    throw new JournalStorageError(`could not rewrite s3://${this.bucket}/${key}: it kept changing`);
  }

  private putXml(key: string, xml: string, condition: { IfMatch?: string; IfNoneMatch?: string }, parked = false) {
    return this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: xml,
        ContentType: XML_CONTENT_TYPE,
        ...(parked ? { Tagging: `${PARKED_TAG_KEY}=true` } : {}),
        ...condition,
      }),
    );
  }

  /** Every config.XML of a lane after `after`, oldest first, with its ETag (from ListObjectsV2, no GET). */
  private async *listConfigs(lane: LaneId, after: string | undefined, pageSize: number): AsyncGenerator<ListedConfig> {
    const prefix = this.keys.lane(lane);
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: prefix,
          MaxKeys: pageSize,
          ...(token ? { ContinuationToken: token } : after !== undefined && { StartAfter: `${prefix}${after}` }),
        }),
      );
      for (const object of page.Contents ?? []) {
        if (!object.Key) continue;
        const parsed = this.keys.parseLaneKey(lane, object.Key);
        if (!parsed || parsed.name !== ENTRY_FILE) continue; // bodies, and anything that is not an entry file
        if (after !== undefined && parsed.id <= after) continue;
        if (!isStamp(parsed.id)) {
          this.warnOnce(object.Key, 'ignoring a folder that is not an entry', `${prefix}${parsed.id}/`);
          continue;
        }
        yield { id: parsed.id, key: object.Key, etag: object.ETag };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  private async loadListed(lane: LaneId, listed: ListedConfig): Promise<JournalEntry | undefined> {
    const cached = this.cache.get(listed.key);
    if (cached && listed.etag !== undefined && cached.etag === listed.etag) {
      // Refresh its place in the cache (least recently used goes first).
      this.cache.delete(listed.key);
      this.cache.set(listed.key, cached);
      return cached.entry;
    }
    // Listings running at once (a replay worker's batches) fetch each config.XML version once between them.
    const loading = `${listed.key}@${listed.etag}`;
    let fetching = this.loading.get(loading);
    if (!fetching) {
      fetching = this.fetchConfig({ lane, id: listed.id }, listed.key).finally(() => this.loading.delete(loading));
      this.loading.set(loading, fetching);
    }
    return fetching.then((entry) => entry && { ...entry });
  }

  /** GETs and decodes a config.XML; undefined when missing or unreadable (reported once through onWarning). */
  private async fetchConfig(ref: EntryRef, key: string): Promise<JournalEntry | undefined> {
    const got = await this.getText(key);
    if (!got) {
      this.cache.delete(key);
      return undefined;
    }
    let entry: JournalEntry | undefined;
    try {
      entry = decodeConfig(ref, got.text);
    } catch (error) {
      if (!(error instanceof EntryCodecError)) throw error;
      this.warnOnce(`${key}@${got.etag}`, `unreadable config.XML left in place: ${error.message}`, key);
      entry = undefined;
    }
    this.remember(key, got.etag, entry);
    return entry;
  }

  /** A small object's text; `text` undefined when it is larger than any config.XML may be (not downloaded). */
  private async getText(key: string): Promise<{ text: string | undefined; etag: string | undefined } | undefined> {
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if ((response.ContentLength ?? 0) > MAX_ENTRY_XML_BYTES) {
        if (response.Body) releaseStream(response.Body as ByteStream);
        return { text: undefined, etag: response.ETag };
      }
      return { text: (await response.Body?.transformToString('utf8')) ?? '', etag: response.ETag };
    } catch (error) {
      if (isMissingObject(error)) return undefined;
      throw error;
    }
  }

  private async head(key: string): Promise<{ etag: string | undefined; size: number } | undefined> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { etag: head.ETag, size: head.ContentLength ?? 0 };
    } catch (error) {
      if (isMissingObject(error)) return undefined;
      throw error;
    }
  }

  /**
   * Digests are kept for the newest bodies (digestCacheSize): an API function's entries are purged by the replay
   * function (another process), so without a bound the map grew with every upload the process verified. One
   * forgotten is only streamed through SHA-256 again if it is asked for.
   */
  private rememberDigest(key: string, digest: StoredDigest): void {
    this.digests.delete(key);
    this.digests.set(key, digest);
    if (this.digests.size > this.digestCacheSize) this.digests.delete(this.digests.keys().next().value!);
  }

  /** How many bodies' digests are kept (see rememberDigest). */
  get digestsKept(): number {
    return this.digests.size;
  }

  private remember(key: string, etag: string | undefined, entry: JournalEntry | undefined): void {
    if (this.cacheSize === 0) return;
    this.cache.delete(key);
    this.cache.set(key, { etag, entry: entry && { ...entry } });
    if (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
  }

  private async *commonPrefixes(prefix: string): AsyncGenerator<string> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token }),
      );
      for (const common of page.CommonPrefixes ?? []) if (common.Prefix) yield common.Prefix;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  private warnOnce(id: string, message: string, key: string): void {
    if (this.warned.has(id)) return;
    if (this.warned.size > 10_000) this.warned.clear();
    this.warned.add(id);
    this.onWarning({ message, path: `s3://${this.bucket}/${key}` });
  }
}

function isRef(ref: EntryRef): boolean {
  return isLaneId(ref.lane) && isStamp(ref.id);
}

function notFound(ref: EntryRef): NotFoundError {
  return new NotFoundError('CHANGE_NOT_FOUND', `no entry ${ref.lane}/${ref.id}`);
}

function bodyChanged(ref: EntryRef): StateConflictError {
  return new StateConflictError(
    'BODY_CHANGED',
    `the body of ${ref.lane}/${ref.id} changed after it was verified (was it PUT again?): commit again`,
  );
}

/**
 * The entry a config.XML of `ref` holds (`text` undefined: too large to have been read). EntryCodecError when it is
 * not one, or describes another entry than the one it lies in.
 */
function decodeConfig(ref: EntryRef, text: string | undefined): JournalEntry {
  if (text === undefined) throw new EntryCodecError(`config.XML is larger than ${MAX_ENTRY_XML_BYTES} bytes`);
  const entry = decodeEntry(text);
  if (entry.lane !== ref.lane || entry.id !== ref.id) {
    throw new EntryCodecError(`config.XML describes ${entry.lane}/${entry.id}, not the entry it lies in`);
  }
  return entry;
}

/** Tag key of parked entries' objects (the deployment's optional retention rule matches it). */
export const PARKED_TAG_KEY = 'vfs-relay-parked';

function isParked(entry: JournalEntry): boolean {
  return entry.status === 'CONFLICT' || entry.status === 'FAILED';
}
