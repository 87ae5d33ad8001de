import type { ByteBudget } from './byte-budget.js';
import { type ByteStream, oneChunk } from './bytes.js';
import { type DeleteGuard, deleteOrigin } from './delete-guard.js';
import { sha256Hex } from './digest.js';
import type { Doorbell } from './doorbell.js';
import {
  type Action,
  CONFIG_ROOT,
  type ConfigScope,
  type EntryRef,
  type FileAction,
  isReservedPath,
  isUploadLike,
  type JournalEntry,
  RESERVED_ROOT,
} from './entry.js';
import {
  BadPathError,
  ContentRefusedError,
  LimitExceededError,
  LocationRootError,
  MalformedRequestError,
  NotFoundError,
  ReservedPathError,
  StateConflictError,
  UploadExpiredError,
} from './errors.js';
import { type BodyDigest, type JournalStore, SMALL_BODY_BYTES } from './journal.js';
import { KeyedMutex } from './keyed-mutex.js';
import type { Logger } from './logger.js';
import { dropEntries } from './operator.js';
import { FORMAT_CHARACTER, isSameOrBelow, normalizePath } from './paths.js';
import { receiveAtMost } from './receive.js';
import { isStamp, type StampClock } from './stamp.js';
import { StampOrder } from './stamp-order.js';
import type { LaneTarget, Topology } from './topology.js';
import { UploadLedger } from './upload-ledger.js';

/** A change as a node reports it (already shape-checked by the API). */
export interface NewChange {
  action: FileAction;
  path: string;
  target?: string;
  size?: number;
  sha256?: string;
  modified?: string;
  user?: string;
}

export type IgnoredReason = 'REPLICATION_USER' | 'NOT_REPLICATED' | 'ECHO' | 'NO_PEERS';

export type SubmitResult =
  | { journaled: false; reason: IgnoredReason }
  | { journaled: true; id: string; status: 'AWAITING_BODY' | 'PENDING' | 'HELD'; entries: JournalEntry[] };

export interface ConfigDocument {
  scope: ConfigScope;
  name: string;
  body: Uint8Array;
  contentType: string;
}

/** Decides, for a change a node has just made, whether it is a replica this relay itself applied. */
export interface EchoFilter {
  isEcho(
    change: { action: Action; path: string; target?: string; sha256?: string },
    node: string | undefined,
  ): boolean | Promise<boolean>;
}

export interface IntakeDeps {
  store: JournalStore;
  doorbell: Doorbell;
  /**
   * Rings entries that were rung before: those released when an upload they waited behind is dropped. Default:
   * `doorbell`. The SQS doorbell needs a re-drive there: its first ring of an entry is deduplicated by the entry's
   * id for 5 minutes, so a second ring within them would be swallowed.
   */
  redrive?: Doorbell;
  clock: StampClock;
  topology: Topology;
  replicationUser: string;
  echo?: EchoFilter;
  now?: () => Date;
  /** Told about every change that was not journaled (metrics). */
  onIgnored?: (reason: IgnoredReason, node: string | undefined) => void;
  /** Unfinished uploads this process knows of (default: a new one). */
  ledger?: UploadLedger;
  /** Uploads one node may have waiting for their body at once (default 100); more: 429 TOO_MANY_UPLOADS. */
  maxUnfinishedUploads?: number;
  /** Memory for bodies received whole (one-request uploads), shared with the store's; default: unbounded. */
  bodyMemory?: ByteBudget;
  /**
   * Rings in the order of the changes' ids (src/core/stamp-order.ts): for the embedded replayer, which sends what it
   * is rung about and knows nothing older it was not told of. The cloud reads the journal before each replay (and a
   * Workers isolate must not run one request's ring inside another's context): leave it off there.
   */
  ringInIdOrder?: boolean;
  /**
   * An upload this old takes no body any more (410 UPLOAD_EXPIRED; config `limits.uploadMaxLifetimeSeconds`, which
   * UploadExpiry enforces on a timer). Default: none.
   */
  uploadLifetimeSeconds?: number;
  /**
   * Told about every file change a node made (journaled, or for no peer but the node's own server) before it is
   * journaled: running resync jobs must not undo it (src/core/jobs/, docs/convergence.md "Ordering").
   */
  touches?: { record(change: { action: Action; path: string; target?: string }): Promise<void> };
  /** Counts each node's deletes; past its limit they are journaled HELD (CONTRACT "Delete guard"). */
  deleteGuard?: DeleteGuard;
  /**
   * Hex SHA-256 of a body in memory (default: Web Crypto, which every runtime has). On Node the runtime passes
   * node:crypto's, which hashes in place on the calling thread: Web Crypto copies the bytes and makes a
   * thread-pool round trip per call, more CPU than the hashing itself for a small upload.
   */
  sha256?: (bytes: Uint8Array) => string | Promise<string>;
  logger?: Logger;
}

/** What a node over its cap of unfinished uploads is told to wait before it tries again. */
const UNFINISHED_RETRY_SECONDS = 5;

/**
 * The node side of the journal: turn a reported change into one entry per peer lane, take upload bodies and
 * commit them. Every method resolves only after what it reports is durable.
 */
export class ChangeIntake {
  private readonly perChange = new KeyedMutex();
  /**
   * Rings (and announcements) in the order of the ids, whatever order the changes finish journaling in: for a
   * replayer that acts on what it is rung (embedded). Without it each change is rung as soon as it is journaled.
   */
  private readonly order: StampOrder | undefined;
  private readonly now: () => Date;
  private readonly sha256: (bytes: Uint8Array) => string | Promise<string>;
  readonly ledger: UploadLedger;

  constructor(private readonly deps: IntakeDeps) {
    this.now = deps.now ?? (() => new Date());
    this.sha256 = deps.sha256 ?? sha256Hex;
    this.ledger = deps.ledger ?? new UploadLedger();
    this.order = deps.ringInIdOrder ? new StampOrder() : undefined;
  }

  /**
   * Journals the change of `id` (`journal`), then tells the replayer (`deliver`): in id order (ringInIdOrder), or at
   * once. A change that fails to be journaled settles its id all the same, so that it holds back no later ring.
   */
  private async inOrder<T>(id: string, journal: () => Promise<T>, deliver: (made: T) => Promise<void>): Promise<T> {
    let made: T;
    try {
      made = await journal();
    } catch (error) {
      await this.order?.settle(id);
      throw error;
    }
    if (this.order) await this.order.settle(id, () => deliver(made));
    else await deliver(made);
    return made;
  }

  async submit(change: NewChange, node: string | undefined): Promise<SubmitResult> {
    const planned = await this.plan(change, node);
    if (!Array.isArray(planned)) return planned;
    const id = planned[0]!.id;
    const journaled =
      planned[0]!.action === 'delete' ? this.deps.deleteGuard?.journaling(deleteOrigin(planned[0]!)) : undefined;
    const entries = await this.inOrder(
      id,
      async () => {
        try {
          const guarded = await this.guardDelete(planned);
          if (guarded[0]!.status === 'AWAITING_BODY') await this.openUpload(id, node);
          // An upload is acknowledged at commit; until then its entries need not survive a crash (the node starts
          // over).
          await this.deps.store.create(guarded, { durable: guarded[0]!.status !== 'AWAITING_BODY' }).catch((error) => {
            this.ledger.closed(id);
            throw error;
          });
          // Journaled HELD by the window rule: its origin stays tripped, even if an operator's release in another
          // process (cloud mode) cleared the trip while this delete was on its way into the journal (see also
          // HeldChanges.rearm, which looks again after clearing).
          const held = guarded[0]!;
          if (held.hold === 'window') await this.deps.deleteGuard?.trip(deleteOrigin(held), held.lastError ?? '');
          return guarded;
        } finally {
          journaled?.();
        }
      },
      async (made) => {
        if (made[0]!.status === 'PENDING') await this.deps.doorbell.ring(made);
        else await this.deps.doorbell.announce?.(made);
      },
    );
    const status = entries[0]!.status as 'AWAITING_BODY' | 'PENDING' | 'HELD';
    return { journaled: true, id, status, entries };
  }

  /**
   * A delete counts against its node's window; past the limit its entries are journaled HELD (rule `window`),
   * so that it and what overlaps it wait for an operator.
   */
  private async guardDelete(entries: JournalEntry[]): Promise<JournalEntry[]> {
    const { deleteGuard, logger } = this.deps;
    const first = entries[0]!;
    if (!deleteGuard?.enabled || first.action !== 'delete') return entries;
    const origin = deleteOrigin(first);
    const verdict = await deleteGuard.admit(origin);
    if (verdict.pass > 0) return entries;
    if (verdict.tripped) {
      logger?.warn('delete guard tripped: deletes are held until an operator acts', {
        node: first.node,
        entryId: first.id,
        path: first.path,
        reason: verdict.reason,
      });
    }
    return entries.map((e) => ({ ...e, status: 'HELD' as const, hold: 'window' as const, lastError: verdict.reason }));
  }

  /**
   * The entries a change becomes (not stored yet), or why it is not journaled. Throws on a bad change. The entries
   * have their id: journal them through inOrder, which settles it whatever happens.
   */
  private async plan(change: NewChange, node: string | undefined): Promise<JournalEntry[] | SubmitResult> {
    const prepared = await this.prepare(change, node);
    if (!('targets' in prepared)) return prepared;
    const { targets, checked, status } = prepared;
    return this.buildEntries(targets, { ...checked, status, node });
  }

  /** What plan checks and records before it hands out an id: the change's lanes, or why it is not journaled. */
  private async prepare(
    change: NewChange,
    node: string | undefined,
  ): Promise<SubmitResult | { targets: LaneTarget[]; checked: NewChange; status: 'AWAITING_BODY' | 'PENDING' }> {
    const checked = checkChange(change, this.deps.topology);
    if (checked.user !== undefined && checked.user === this.deps.replicationUser) {
      return this.ignored('REPLICATION_USER', node);
    }
    const location = this.deps.topology.locationOf(checked.path);
    const targetLocation = checked.target ? this.deps.topology.locationOf(checked.target) : location;
    if (!location && !targetLocation) return this.ignored('NOT_REPLICATED', node);
    checkLocationRoot(checked, this.deps.topology);
    if (location !== targetLocation) {
      throw new ContentRefusedError(
        'RENAME_ACROSS_LOCATIONS',
        'a rename must stay inside one replicated location; report a move out as a delete and a move in as an upload',
      );
    }
    if (await this.deps.echo?.isEcho(checked, node)) return this.ignored('ECHO', node);
    const targets = this.deps.topology.targets(location!, node);
    // Running resyncs hear of the change before it gets its id: a job's write stamped after this change must find
    // the touch when it is replayed (in cloud mode recording it is an S3 write, which can take a while). A change
    // made on the only peer's own server (NO_PEERS) is a touch too.
    await this.deps.touches?.record(checked);
    if (targets.length === 0) return this.ignored('NO_PEERS', node);
    const status = checked.action === 'upload' ? 'AWAITING_BODY' : 'PENDING';
    return { targets: [...targets], checked, status };
  }

  /**
   * Counts a new upload against its node's cap. At the cap, uploads this process still lists are checked against the
   * journal first (committed or skipped elsewhere, they no longer count).
   */
  private async openUpload(id: string, node: string | undefined): Promise<void> {
    const cap = this.deps.maxUnfinishedUploads ?? 100;
    if (node !== undefined && this.ledger.idsOf(node).length >= cap) {
      for (const other of this.ledger.idsOf(node)) {
        const entries = await this.find(other);
        if (!entries.some((e) => e.status === 'AWAITING_BODY')) this.ledger.closed(other);
      }
      if (this.ledger.idsOf(node).length >= cap) {
        throw new LimitExceededError(
          'TOO_MANY_UPLOADS',
          `node ${node} already has ${cap} uploads waiting for their body or commit: finish those first`,
          UNFINISHED_RETRY_SECONDS,
        );
      }
    }
    this.ledger.opened(id, node, this.now().getTime());
  }

  /**
   * Streams an upload's body into the journal. Refuses more bytes than the change declared. `node`: the caller's
   * node; only the node that created the change may send its body (undefined: the admin token, which may act on
   * any change).
   */
  async writeBody(id: string, body: ByteStream, node: string | undefined): Promise<BodyDigest> {
    return this.perChange.run(id, async () => {
      const entries = await this.findAwaiting(id, node);
      const home = entries[0]!;
      // A body that waited for the lock while the upload outlived its lifetime (the sweep drops it next).
      if (this.now().getTime() - Date.parse(home.createdAt) >= this.uploadLifetimeMs()) throw uploadExpired(id);
      const cut = new AbortController();
      const received = this.ledger.receiving(id, this.now().getTime(), () => cut.abort());
      try {
        return await this.deps.store.writeBody(
          home,
          untilAborted(body, cut.signal, () => uploadExpired(id)),
          home.size ?? 0,
        );
      } finally {
        received(this.now().getTime());
      }
    });
  }

  /** Body complete: verify size and checksum, give every lane its copy, mark PENDING, ring. `node` as for writeBody. */
  async commit(id: string, node: string | undefined, options: { ring?: boolean } = {}): Promise<JournalEntry[]> {
    this.refuseOthersEarly(id, node);
    return this.perChange.run(id, async () => {
      const entries = await this.findAwaiting(id, node);
      const home = entries[0]!;
      const digest = await this.deps.store.bodyDigest(home);
      if (!digest)
        throw new StateConflictError('BODY_MISSING', `change ${id} has no body yet: PUT it to the upload URL first`);
      const refusal = verify(home, digest);
      if (refusal) {
        await this.deps.store.discardBody(home);
        throw refusal;
      }
      const committed = entries
        .filter((e) => e.status === 'AWAITING_BODY')
        .map((e) => ({ ...e, status: 'PENDING' as const, sha256: digest.sha256 }));
      await this.deps.store.publish(committed, home);
      this.ledger.closed(id);
      if (options.ring !== false) await this.deps.doorbell.ring(committed);
      return committed;
    });
  }

  /**
   * The node gives up an upload it has not committed (`POST /v1/changes/{id}/abandon`): its entries leave the
   * journal at once, and the changes to its paths that waited behind it go on, instead of waiting for the upload to
   * expire. Only the node that created it (or the admin token) may; a committed upload is 409 ALREADY_COMMITTED.
   * A body still being received finishes first (the change's lock).
   */
  async abandon(id: string, node: string | undefined): Promise<JournalEntry[]> {
    checkChangeId(id);
    this.refuseOthersEarly(id, node);
    return this.perChange.run(id, async () => {
      const entries = await this.findAwaiting(id, node);
      const awaiting = entries.filter((e) => e.status === 'AWAITING_BODY');
      const dropped = await dropEntries(
        this.deps.store,
        this.deps.redrive ?? this.deps.doorbell,
        awaiting,
        stillAwaiting,
      );
      this.ledger.closed(id);
      this.deps.logger?.info('upload abandoned by its node', { changeId: id, node, path: entries[0]!.path });
      return dropped;
    });
  }

  /**
   * The single-request upload: change, body and commit at once (`POST /v1/uploads`). Nothing stays in the journal
   * if the body is refused, cut off, or does not match the declared size or checksum.
   */
  async uploadInOne(change: NewChange, body: ByteStream, node: string | undefined): Promise<SubmitResult> {
    if (change.action !== 'upload') throw new MalformedRequestError('BAD_REQUEST', 'only uploads carry a body');
    const size = change.size ?? 0;
    if (
      this.deps.store.createWithBody &&
      change.size !== undefined &&
      size <= SMALL_BODY_BYTES &&
      (this.deps.bodyMemory?.tryReserve(size, { owner: node, upload: true }) ?? true)
    ) {
      try {
        return await this.uploadSmall(change, body, node);
      } finally {
        this.deps.bodyMemory?.release(size, node);
      }
    }
    // Large, or the memory is spoken for (or this node holds its share of it): streamed to the journal like a
    // three-step upload, where its lifetime and the node's cap on open uploads bound it.
    const result = await this.submit(change, node);
    if (!result.journaled) return result;
    try {
      await this.writeBody(result.id, body, node);
      const entries = await this.commit(result.id, node);
      return { ...result, status: 'PENDING', entries };
    } catch (error) {
      // Under the change's lock, after an expiry that cut the body off and queued first (it counts and logs the
      // drop); rung, so that what waited behind the upload goes on now, not at the next sweep.
      await this.perChange.run(result.id, async () => {
        this.ledger.closed(result.id);
        const left = (await Promise.all(result.entries.map((e) => this.deps.store.read(e)))).filter(
          (e): e is JournalEntry => e?.status === 'AWAITING_BODY',
        );
        if (left.length > 0) await dropEntries(this.deps.store, this.deps.redrive ?? this.deps.doorbell, left);
      });
      throw error;
    }
  }

  /**
   * Small bodies: received into memory (within the body memory budget), verified, then journaled in one durable
   * step. Nothing reaches the journal before the whole body is here and matches.
   */
  private async uploadSmall(change: NewChange, body: ByteStream, node: string | undefined): Promise<SubmitResult> {
    const prepared = await this.prepare(change, node);
    if (!('targets' in prepared)) return prepared;
    const { targets, checked } = prepared;
    const size = checked.size ?? 0;
    const bytes = await receiveAtMost(body, size);
    const digest = { size: bytes.length, sha256: await this.sha256(bytes) };
    const refusal = verify({ size, sha256: checked.sha256 }, digest);
    if (refusal) throw refusal;
    // Its id once its body is in: a slow body must not hold back the rings of the changes taken meanwhile.
    const entries = this.buildEntries(targets, { ...checked, status: 'PENDING', sha256: digest.sha256, node });
    await this.inOrder(
      entries[0]!.id,
      () => this.deps.store.createWithBody!(entries, bytes, digest),
      () => this.deps.doorbell.ring(entries),
    );
    return { journaled: true, id: entries[0]!.id, status: 'PENDING', entries };
  }

  /**
   * Drops an upload whose body has not moved for `idleMs` (no body arriving now, none since it was opened or its
   * last body ended), or that was opened `lifetimeMs` ago or longer whatever its body does (a body arriving then
   * is cut off: 410 UPLOAD_EXPIRED), and wakes what waited behind it. Checked again
   * under the change's lock, so a body or commit that got there first wins. Returns the dropped entries (none:
   * still active, committed, or gone).
   */
  async expireUpload(id: string, idleMs: number, lifetimeMs = Number.POSITIVE_INFINITY): Promise<JournalEntry[]> {
    // Cheap answers first, and never wait for the lock a body being received holds (unless it is cut off).
    const tooOld = (createdAt: number) => this.now().getTime() - createdAt >= lifetimeMs;
    const openedAt = this.ledger.openedAt(id);
    if (openedAt !== undefined && tooOld(openedAt)) {
      this.ledger.cutOff(id); // the body's request fails, and with it goes the change's lock
    } else {
      const knownActive = this.ledger.activeAt(id);
      if (this.ledger.isReceiving(id)) return [];
      if (knownActive !== undefined && this.now().getTime() - knownActive < idleMs) return [];
    }
    return this.perChange.run(id, async () => {
      const entries = await this.find(id);
      const awaiting = entries.filter((e) => e.status === 'AWAITING_BODY');
      if (awaiting.length === 0) {
        this.ledger.closed(id);
        return [];
      }
      const createdAt = Date.parse(awaiting[0]!.createdAt);
      if (!tooOld(createdAt)) {
        if (this.ledger.isReceiving(id)) return [];
        const activeAt = Math.max(createdAt, this.ledger.activeAt(id) ?? 0);
        if (this.now().getTime() - activeAt < idleMs) return [];
      }
      // Only while still waiting for its body: in cloud mode the commit may come through another process.
      const dropped = await dropEntries(
        this.deps.store,
        this.deps.redrive ?? this.deps.doorbell,
        awaiting,
        stillAwaiting,
      );
      this.ledger.closed(id);
      if (dropped.length < awaiting.length) {
        this.deps.logger?.info('upload not expired: committed meanwhile', { changeId: id, dropped: dropped.length });
      }
      return dropped;
    });
  }

  /** Journals a configuration document (create or replace) for every peer. */
  async putConfig(doc: ConfigDocument, node: string | undefined): Promise<SubmitResult> {
    const path = configPath(doc.scope, doc.name);
    const sha256 = await this.sha256(doc.body);
    if (await this.deps.echo?.isEcho({ action: 'config_put', path, sha256 }, node)) return this.ignored('ECHO', node);
    const targets = this.deps.topology.configTargets(node);
    if (targets.length === 0) return this.ignored('NO_PEERS', node);
    const entries = this.buildEntries(targets, {
      action: 'config_put',
      path,
      size: doc.body.length,
      contentType: doc.contentType,
      status: 'AWAITING_BODY',
      node,
    });
    const id = entries[0]!.id;
    const committed = await this.inOrder(
      id,
      async () => {
        await this.deps.store.create(entries, { durable: false });
        await this.deps.store.writeBody(entries[0]!, oneChunk(doc.body), doc.body.length);
        return this.commit(id, node, { ring: false });
      },
      (made) => this.deps.doorbell.ring(made),
    );
    return { journaled: true, id, status: 'PENDING', entries: committed };
  }

  async deleteConfig(scope: ConfigScope, name: string, node: string | undefined): Promise<SubmitResult> {
    if (await this.deps.echo?.isEcho({ action: 'config_delete', path: configPath(scope, name) }, node)) {
      return this.ignored('ECHO', node);
    }
    const targets = this.deps.topology.configTargets(node);
    if (targets.length === 0) return this.ignored('NO_PEERS', node);
    const entries = this.buildEntries(targets, {
      action: 'config_delete',
      path: configPath(scope, name),
      status: 'PENDING',
      node,
    });
    await this.inOrder(
      entries[0]!.id,
      () => this.deps.store.create(entries),
      () => this.deps.doorbell.ring(entries),
    );
    return { journaled: true, id: entries[0]!.id, status: 'PENDING', entries };
  }

  private uploadLifetimeMs(): number {
    return (this.deps.uploadLifetimeSeconds ?? Number.POSITIVE_INFINITY) * 1000;
  }

  private ignored(reason: IgnoredReason, node: string | undefined): SubmitResult {
    this.deps.onIgnored?.(reason, node);
    return { journaled: false, reason };
  }

  /** Every lane's entry for a change id, ordered by lane (the first holds the body while it uploads). */
  async find(id: string): Promise<JournalEntry[]> {
    checkChangeId(id);
    const lanes = new Set([...this.deps.topology.allLanes().map((t) => t.lane), ...(await this.deps.store.lanes())]);
    const found = await Promise.all([...lanes].sort().map((lane) => this.deps.store.read({ lane, id })));
    return found.filter((e): e is JournalEntry => e !== undefined);
  }

  /**
   * Another node's upload this process opened answers 404 at once, as an unknown id does: waiting for the change's
   * lock first (held while its body arrives) would tell the caller the id exists. The check under the lock
   * (findAwaiting) still decides for uploads this process did not open.
   */
  private refuseOthersEarly(id: string, node: string | undefined): void {
    if (node !== undefined && this.ledger.openedForAnother(id, node)) throw uploadNotFound(id);
  }

  /**
   * The entries of an upload `node` may send the body of, or commit. Another node's change answers exactly as an
   * unknown id does (CONTRACT: it must not learn that the id exists), before any state is revealed.
   */
  private async findAwaiting(id: string, node: string | undefined): Promise<JournalEntry[]> {
    const entries = await this.find(id);
    if (entries.length === 0 || (node !== undefined && entries[0]!.node !== node)) throw uploadNotFound(id);
    const home = entries[0]!;
    if (!isUploadLike(home.action))
      throw new StateConflictError('NOT_AN_UPLOAD', `change ${id} is a ${home.action}: it has no body`);
    if (!entries.some((e) => e.status === 'AWAITING_BODY')) {
      throw new StateConflictError('ALREADY_COMMITTED', `change ${id} is already committed`);
    }
    return entries;
  }

  private buildEntries(
    targets: readonly LaneTarget[],
    fields: Omit<JournalEntry, keyof EntryRef | 'peer' | 'location' | 'createdAt' | 'attempts'>,
  ): JournalEntry[] {
    const id = this.deps.clock.next();
    this.order?.opened(id);
    const createdAt = this.now().toISOString();
    return [...targets]
      .sort((a, b) => (a.lane < b.lane ? -1 : 1))
      .map((t) =>
        dropUndefined({ ...fields, id, lane: t.lane, peer: t.peer, location: t.location, createdAt, attempts: 0 }),
      );
  }
}

function checkChange(change: NewChange, topology: Topology): NewChange {
  const path = normalizePath(change.path);
  const checked: NewChange = { ...change, path };
  if (change.action === 'rename') {
    if (change.target === undefined) throw new MalformedRequestError('BAD_REQUEST', 'rename needs "target"');
    checked.target = normalizePath(change.target, 'target');
    // A rename of a location itself, or onto one, is that (400 LOCATION_ROOT) before it is a bad rename (422).
    checkLocationRoot(checked, topology);
    if (checked.target === path) throw new ContentRefusedError('BAD_RENAME', 'rename target equals its source');
    if (isSameOrBelow(checked.target, path))
      throw new ContentRefusedError('BAD_RENAME', 'cannot move a folder into itself');
    if (isSameOrBelow(path, checked.target)) {
      throw new ContentRefusedError('BAD_RENAME', 'cannot move a path onto its own parent folder');
    }
  } else if (change.target !== undefined) {
    throw new MalformedRequestError('BAD_REQUEST', '"target" is only for rename');
  }
  if (change.action === 'upload' && change.size === undefined)
    throw new MalformedRequestError('BAD_REQUEST', 'upload needs "size"');
  if (change.action !== 'upload' && (change.size !== undefined || change.sha256 !== undefined)) {
    throw new MalformedRequestError('BAD_REQUEST', '"size" and "sha256" are only for upload');
  }
  if (change.action === 'mdtm' && change.modified === undefined)
    throw new MalformedRequestError('BAD_REQUEST', 'mdtm needs "modified"');
  if (path === '/' && change.action !== 'mdtm' && change.action !== 'makedir') {
    throw new BadPathError(`cannot ${change.action} the root folder`);
  }
  for (const touched of [path, checked.target]) {
    if (touched !== undefined && isReservedPath(touched)) {
      throw new ReservedPathError(`${touched} is reserved for the relay's configuration documents (${RESERVED_ROOT}/)`);
    }
  }
  if (checked.user !== undefined && FORMAT_CHARACTER.test(checked.user)) {
    throw new BadPathError('user contains Unicode format characters (bidi controls, zero-width characters)');
  }
  if (checked.sha256) checked.sha256 = checked.sha256.toLowerCase();
  return checked;
}

/**
 * A replicated location itself is never created, replaced, removed or renamed through the journal: one such change
 * would take the whole location with it on every peer (and an upload there that never sends its body would hold
 * back every later change in the location). Only its modified time may be replicated.
 */
function checkLocationRoot(change: NewChange, topology: Topology): void {
  if (change.action === 'mdtm') return;
  const refused =
    change.action === 'makedir'
      ? topology.isLocation(change.path)
      : [change.path, change.target].some((p) => p !== undefined && topology.holdsLocation(p));
  if (refused) {
    throw new LocationRootError(
      `a ${change.action} of a replicated location itself (or a folder holding one) is refused: report changes inside it`,
    );
  }
}

/** Refuses (400 BAD_ID) what cannot be a change id, before anything is looked up. */
export function checkChangeId(id: string): void {
  if (!isStamp(id)) throw new MalformedRequestError('BAD_ID', `"${id}" is not a change id`);
}

/**
 * The body as it arrives, until `signal` aborts (the upload outlived its lifetime): then it fails with `failure()`
 * at once, without waiting for the client's next byte, and lets go of the source.
 */
async function* untilAborted(body: ByteStream, signal: AbortSignal, failure: () => Error): AsyncGenerator<Uint8Array> {
  const source = body[Symbol.asyncIterator]();
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(failure());
    signal.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => {}); // observed below, or never needed
  let done = false;
  try {
    while (true) {
      if (signal.aborted) throw failure();
      const next = await Promise.race([source.next(), aborted]);
      if (next.done) {
        done = true;
        return;
      }
      yield next.value;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    // A source left half read is let go of (a Node stream is destroyed); its pending read is not waited for.
    if (!done) void source.return?.()?.catch(() => {});
  }
}

const stillAwaiting = (entry: JournalEntry) => entry.status === 'AWAITING_BODY';

function uploadExpired(id: string): UploadExpiredError {
  return new UploadExpiredError(
    `upload ${id} outlived limits.uploadMaxLifetimeSeconds and is dropped: its body cannot be sent any more ` +
      '(a file this large at this rate needs a longer lifetime)',
  );
}

/** The one answer for an unknown id, a purged change and another node's change alike. */
export function uploadNotFound(id: string): NotFoundError {
  return new NotFoundError('NOT_FOUND', `no change ${id} is waiting for a body or commit from this caller`);
}

function verify(entry: Pick<JournalEntry, 'size' | 'sha256'>, digest: BodyDigest): ContentRefusedError | undefined {
  if (entry.size !== digest.size) {
    return new ContentRefusedError(
      'SIZE_MISMATCH',
      `declared ${entry.size} bytes, received ${digest.size}; PUT the body again`,
    );
  }
  if (entry.sha256 && entry.sha256 !== digest.sha256) {
    return new ContentRefusedError(
      'CHECKSUM_MISMATCH',
      `the body's sha256 is ${digest.sha256}, the change declared ${entry.sha256}; PUT the body again`,
    );
  }
  return undefined;
}

export function configPath(scope: ConfigScope, name: string): string {
  if (name.includes('/')) throw new BadPathError('a configuration document name is one segment: no "/"');
  return normalizePath(`${CONFIG_ROOT}/${scope}/${name}`, 'name');
}

/** `value` without its undefined properties (a loop: once per entry of every change, on ingest's path). */
function dropUndefined<T extends object>(value: T): T {
  const kept: Record<string, unknown> = {};
  for (const key in value) {
    if (value[key] !== undefined) kept[key] = value[key];
  }
  return kept as T;
}
