import { setMaxListeners } from 'node:events';
import { type Dirent, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { byName } from '../core/jobs/tree.js';
import type { Logger } from '../core/logger.js';
import { PathMarks } from '../core/path-marks.js';
import { BodyFile } from './body-file.js';
import { locateBody } from './body-location.js';
import type { ChangeRequest, RelayClient } from './client.js';
import { DocumentDelivery } from './document-sender.js';
import { BodyChangedError, RelayRefusedError, RelayUnavailableError, UploadUrlRefusedError } from './errors.js';
import { isSameOrBelow } from './file-index.js';
import type { OpenUploads } from './open-uploads.js';
import type { Outbox, OutboxEntry } from './outbox.js';
import { vfsPath } from './paths.js';
import { isDefiniteRefusal } from './refusals.js';
import type { RefusedChanges } from './refused-changes.js';
import type { LocalChange } from './rename-detector.js';
import { type RetryClock, retryDelay, sleep, systemClock } from './retry.js';

export interface SenderOptions {
  outbox: Outbox;
  /** Where changes the relay refuses for good are set aside (`refused.jsonl` beside the outbox). */
  refused: RefusedChanges;
  client: RelayClient;
  /** The watched folder (absolute): upload bodies are read from it when they are sent. */
  root: string;
  /** VFS base with a trailing slash. */
  vfs: string;
  logger: Logger;
  /** Waits between rounds while the relay stays unreachable (each round is a full client retry cycle). */
  reconnect: { baseDelayMs: number; maxDelayMs: number };
  /** How long an upload whose file has vanished waits for the watcher to report where it went. */
  goneGraceMs: number;
  /** `--config-dir`: the folder holds configuration documents (`<scope>/<name>`), not files. */
  documents?: boolean;
  /** Changes in flight at once (only ever changes whose paths do not overlap an older pending one). Default 8. */
  concurrency?: number;
  /** Time for the waits between rounds (tests inject one). */
  clock?: RetryClock;
  /** The three-step uploads in progress, kept so that the next start gives up those this run leaves open. */
  uploads?: OpenUploads;
  /** Absolute path → true for what the agent never reports (ignore patterns, the state folder). */
  ignored?: (absolute: string) => boolean;
  /** An upload was skipped because its file had vanished: the peer does not have what the agent remembers there. */
  onNotSent?: (path: string) => void;
}

/** Refusals of a path itself (see refusals.ts): a rename to such a name is sent as a delete and an upload. */
const REFUSED_NAMES = new Set(['BAD_PATH', 'RESERVED_PATH']);

/** Local failures (an unreadable file, say) tolerated before a change is set aside. */
const MAX_LOCAL_FAILURES = 5;
/** Attempts at reading a file that is being written while it is hashed or sent. */
const BODY_ATTEMPTS = 3;

/** What to check when the relay ignores a change for one of these reasons (see Sender.noteIgnored). */
const IGNORED_HINTS: Record<string, string> = {
  NOT_REPLICATED: 'the path is under no replicated location of the relay: --vfs must name one of its "vfs" paths',
  REPLICATION_USER: 'the change is reported as made by the replication user, whose changes are never replicated',
  NO_PEERS: 'no peer of the relay takes changes from this node (a peer whose "node" is this one does not)',
};

type Stall = 'unreachable' | 'throttled' | 'unauthorized' | 'redirected' | 'rejected' | 'uploadUrls';

const STALL_MESSAGES: Record<Stall, string> = {
  unreachable: 'relay unreachable; changes wait in the outbox',
  throttled: 'the relay is throttling (408/429); changes wait in the outbox and go out as fast as it allows',
  unauthorized: 'the relay refuses the agent token; changes wait in the outbox until it is fixed',
  redirected: 'the relay URL redirects elsewhere; changes wait in the outbox until --relay names the final URL',
  rejected: 'the relay answers a change with an error this agent does not know; it stays queued and is retried',
  uploadUrls:
    'the bucket refuses the upload URLs the relay hands out (403: expired at once? check the relay host clock); changes wait in the outbox',
};

/**
 * Sends the outbox to the relay in order (changes on unrelated paths side by side), and acknowledges each change
 * in the outbox once the relay has it.
 *
 * - Relay unreachable, throttling (408/429, Retry-After honoured) or failing (5xx): the change stays in line and
 *   is tried again, with capped backoff and jitter, for as long as it takes. An upload that a newer upload of the
 *   same path supersedes meanwhile is dropped at its next round (the newer one sends the same file).
 * - 401/403, 3xx: the same (the configuration needs fixing; dropping changes would lose them).
 * - A definite refusal of the change itself (see refusals.ts: 400 BAD_PATH, 413, 422 BAD_RENAME, ...): it can
 *   never succeed as it is; it is logged at error level, set aside in `refused.jsonl` beside the outbox (listed
 *   by `vfs-relay agent refused`, re-queued by `vfs-relay agent requeue`) and leaves the outbox, so that one bad
 *   name does not stop everything behind it.
 * - Any other 4xx: not understood, so not taken for a verdict: retried with backoff, logged at error level.
 */
export class Sender {
  private readonly controller = new AbortController();
  private running: Promise<void> | undefined;
  /**
   * Paths whose upload was skipped because the file no longer existed: the peer does not have this version.
   * A later rename from such a path cannot be a MOVE on the peer, so it becomes a delete and an upload.
   */
  private readonly absent = new Set<string>();
  /** Reasons of IGNORED answers warned about already (see noteIgnored). */
  private readonly ignoredReasons = new Set<string>();
  /**
   * Folders sent as a tree of uploads (see uploadTree) this run, with the last outbox position queued when the tree
   * was listed: what they held was sent under the names it had then, so a rename below one of them queued by then
   * may have a source the peer never got, and is sent as a delete and an upload too. Renames queued later start
   * from the names the tree was sent with: MOVEs as usual.
   */
  private readonly rebuilt = new Map<string, number>();
  /** Why the head of the outbox cannot be sent right now, and since when. */
  private stalled: { kind: Stall; since: number } | undefined;
  private readonly clock: RetryClock;
  sent = 0;

  private readonly documents: DocumentDelivery | undefined;

  constructor(private readonly options: SenderOptions) {
    // Every worker waits on this signal (appends, backoff, requests): more than Node's default of 10 listeners.
    setMaxListeners(64, this.controller.signal);
    this.clock = options.clock ?? systemClock;
    // Uploads set aside in earlier runs too: a rename from such a path (the fix of a refused name) must not be
    // sent as a MOVE of a file the peer never got.
    for (const path of options.refused.uploadPaths) this.absent.add(path);
    this.documents = options.documents
      ? new DocumentDelivery(options.root, options.client, options.logger, this.controller.signal)
      : undefined;
  }

  /** Starts draining; `onFatal` hears of an outbox that can no longer be written (the agent must stop). */
  start(onFatal: (error: unknown) => void): void {
    this.running ??= this.run().catch((error: unknown) => {
      if (!this.controller.signal.aborted) onFatal(error);
    });
  }

  /** Stops after aborting the change in flight (it stays in the outbox and is sent again next time). */
  async stop(): Promise<void> {
    this.controller.abort(new Error('the agent is stopping'));
    await this.running;
  }

  private get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Changes set aside (this run and earlier ones) and not re-queued. */
  get refused(): number {
    return this.options.refused.count;
  }

  /**
   * Up to `concurrency` workers. Each takes the oldest pending change that is not in flight and whose paths no
   * older pending change overlaps (the relay's own ordering rule), so changes to one path, its folders, or a
   * rename's source and target keep their order while unrelated files go out side by side. A change that
   * cannot be sent now (relay unreachable) stays in flight and is tried again with backoff.
   */
  private async run(): Promise<void> {
    await this.abandonLeftOpen();
    const inFlight = new Set<number>();
    const concurrency = this.options.concurrency ?? 8;
    await Promise.all(Array.from({ length: concurrency }, () => this.work(inFlight)));
  }

  private async work(inFlight: Set<number>): Promise<void> {
    for (;;) {
      const entry = this.nextReady(inFlight);
      if (!entry) {
        try {
          await Promise.race([this.options.outbox.whenAppended(this.signal), this.whenSettled()]);
        } catch {
          return; // stopping
        }
        continue;
      }
      inFlight.add(entry.seq);
      try {
        if (!(await this.send(entry))) return;
      } finally {
        inFlight.delete(entry.seq);
        this.settled();
      }
    }
  }

  /** Sends one change until it is done (acknowledged in the outbox); false when stopping. */
  private async send(entry: OutboxEntry): Promise<boolean> {
    // Local failures in a row (a file that cannot be read): rounds the relay was unreachable do not count.
    let local = 0;
    for (let failures = 0; ; ) {
      const outcome = await this.attempt(entry, failures + 1, local + 1);
      if (outcome === 'stopped') return false;
      if (outcome === 'done') {
        await this.options.outbox.ack(entry.seq); // an outbox that cannot be written is fatal: let it propagate
        return true;
      }
      failures += 1;
      local = outcome.local ? local + 1 : 0;
      const delay = retryDelay(failures, this.options.reconnect, outcome.retryAfterMs, this.clock.random);
      try {
        await this.clock.sleep(delay, this.signal);
      } catch {
        return false;
      }
    }
  }

  private nextReady(inFlight: ReadonlySet<number>): OutboxEntry | undefined {
    const older = new PathMarks();
    for (const entry of this.options.outbox.entries()) {
      const paths = entry.change.action === 'rename' ? [entry.change.path, entry.change.target] : [entry.change.path];
      const absolute = paths.map((p) => `/${p}`);
      if (!inFlight.has(entry.seq) && !absolute.some((p) => older.overlaps(p))) return entry;
      for (const p of absolute) older.add(p);
    }
    return undefined;
  }

  private settledWaiters: (() => void)[] = [];

  private whenSettled(): Promise<void> {
    return new Promise((resolve) => this.settledWaiters.push(resolve));
  }

  private settled(): void {
    for (const wake of this.settledWaiters.splice(0)) wake();
  }

  /**
   * `done`: sent, or set aside (it leaves the outbox either way); `retry`: it stays in line (with how long the
   * relay asked to wait, if it did).
   */
  private async attempt(
    entry: OutboxEntry,
    attempt: number,
    localAttempt: number,
  ): Promise<'done' | 'stopped' | { retryAfterMs: number | undefined; local: boolean }> {
    try {
      await this.deliver(entry);
      this.sent += 1;
      this.reachable();
      return 'done';
    } catch (error) {
      if (this.signal.aborted) return 'stopped';
      const local = !(
        error instanceof RelayUnavailableError ||
        error instanceof RelayRefusedError ||
        error instanceof UploadUrlRefusedError
      );
      if (isDefiniteRefusal(error) || (local && localAttempt >= MAX_LOCAL_FAILURES)) {
        this.reachable();
        // An outbox folder that cannot be written is fatal, as for the outbox itself: the change must not be acked.
        await this.setAside(entry, error as Error);
        return 'done';
      }
      this.reportFailure(entry, error, attempt);
      return { retryAfterMs: error instanceof RelayUnavailableError ? error.retryAfterMs : undefined, local };
    }
  }

  private reachable(): void {
    if (this.stalled === undefined) return;
    this.options.logger.info('sending again', { stalledForMs: this.clock.now() - this.stalled.since });
    this.stalled = undefined;
  }

  private async deliver(entry: OutboxEntry): Promise<void> {
    const { change, user } = entry;
    if (this.documents) return this.documents.deliver(change);
    switch (change.action) {
      case 'upload':
        return this.upload(entry, change.path);
      case 'makedir':
        await this.submit({ action: 'makedir', path: this.vfs(change.path), user });
        return;
      case 'delete':
        await this.submit({ action: 'delete', path: this.vfs(change.path), user });
        this.forgetAbsent(change.path);
        return;
      case 'rename':
        return this.rename(entry, change.path, change.target);
    }
  }

  private async rename(entry: OutboxEntry, from: string, to: string): Promise<void> {
    if (this.absent.has(from) || this.queuedBeforeRebuilt(entry.seq, from)) {
      await this.replaceByUpload(entry, from, to);
      return;
    }
    try {
      await this.submit({ action: 'rename', path: this.vfs(from), target: this.vfs(to), user: entry.user });
    } catch (error) {
      // The relay wants a move between replicated locations reported as a delete and an upload; a name it refuses
      // (the target's, usually: a control character) left the old name all the same: it is deleted on the peer,
      // and the upload under the refused name is what gets set aside (a later rename that fixes the name is then
      // an upload, not a MOVE of a name the peer never had).
      const code = error instanceof RelayRefusedError ? error.code : undefined;
      if (code !== 'RENAME_ACROSS_LOCATIONS' && !REFUSED_NAMES.has(code ?? '')) throw error;
      await this.replaceByUpload(entry, from, to);
      return;
    }
    for (const path of [...this.absent]) {
      if (isSameOrBelow(path, to)) this.absent.delete(path); // overwritten by the move
    }
    for (const path of [...this.absent]) {
      if (!isSameOrBelow(path, from)) continue;
      this.absent.delete(path);
      this.absent.add(to + path.slice(from.length));
    }
  }

  /**
   * A rename the peer cannot perform as a move: delete the old name, upload the file under the new one — or, for a
   * folder (moved between two replicated locations, say), make it and upload everything in it. A folder was taken
   * for a file that vanished before: the old name was deleted on the peer and nothing arrived under the new one.
   */
  private async replaceByUpload(entry: OutboxEntry, from: string, to: string): Promise<void> {
    try {
      await this.submit({ action: 'delete', path: this.vfs(from), user: entry.user });
    } catch (error) {
      // A name the relay refuses outright (BAD_PATH, ...) never reached the peer: only the new name matters.
      if (!isDefiniteRefusal(error)) throw error;
    }
    if (isFolder(join(this.options.root, to))) {
      const queued = this.options.outbox.entries();
      const listedAfter = queued[queued.length - 1]?.seq ?? entry.seq;
      await this.uploadTree(entry, to);
      this.rebuilt.set(to, listedAfter);
    } else await this.upload(entry, to);
    this.forgetAbsent(from); // only now: a retry after a failed upload must take this path again
  }

  /**
   * Makes `folder` on the peer and sends what it holds now, parents before children (names in order); what the
   * agent ignores is left out. A retry after a failure starts again from the top: each step can be repeated.
   */
  private async uploadTree(entry: OutboxEntry, folder: string): Promise<void> {
    await this.submit({ action: 'makedir', path: this.vfs(folder), user: entry.user });
    let names: Dirent[];
    try {
      names = readdirSync(join(this.options.root, folder), { withFileTypes: true });
    } catch {
      return; // gone meanwhile: what became of it is in the outbox after this change
    }
    for (const item of names.sort(byName)) {
      const path = `${folder}/${item.name}`;
      if (this.options.ignored?.(join(this.options.root, path))) continue;
      try {
        if (item.isDirectory()) await this.uploadTree(entry, path);
        else if (item.isFile()) await this.upload(entry, path);
      } catch (error) {
        // One file the relay refuses (too large, a bad name) or that cannot be read must not cost its siblings (the
        // old folder is deleted on the peer already): it is left out, said at error level, and a later rename of it
        // is an upload. It is queued again as an upload of its own, which takes the usual way: retried while the
        // cause passes (a file that could not be read, an upload that expired), or set aside where `agent refused`
        // lists it (it was only logged). The relay out of reach stops the whole tree, sent again from the top.
        const relaySide =
          error instanceof RelayUnavailableError ||
          error instanceof RelayRefusedError ||
          error instanceof UploadUrlRefusedError;
        if (this.signal.aborted || (relaySide && !isDefiniteRefusal(error))) throw error;
        this.absent.add(path);
        if (item.isFile()) await this.options.outbox.append({ action: 'upload', path }, entry.user);
        this.options.logger.error('a file of a folder sent anew could not be sent with it; queued on its own', {
          seq: entry.seq,
          path,
          error: (error as Error).message,
        });
      }
    }
  }

  /** Uploads `path` with the bytes found where the file is now (see locateBody). */
  private async upload(entry: OutboxEntry, path: string): Promise<void> {
    const deadline = Date.now() + this.options.goneGraceMs;
    for (;;) {
      const where = locateBody(path, this.changesAfter(entry));
      if (where.kind === 'superseded') return;
      if (where.kind === 'deleted') {
        this.absent.add(path);
        return;
      }
      if (await this.uploadFrom(path, where.path, entry.user)) {
        this.absent.delete(path);
        return;
      }
      // Gone without a trace in the outbox yet: the watcher is probably about to report a move or a delete.
      if (Date.now() >= deadline) {
        this.options.logger.info('file vanished before its upload was sent; skipped', { path });
        this.absent.add(path);
        this.options.onNotSent?.(path);
        return;
      }
      await sleep(100, this.signal);
    }
  }

  /** The changes journaled after `entry`, without copying the outbox (it can hold a long backlog). */
  private *changesAfter(entry: OutboxEntry): Generator<LocalChange> {
    const entries = this.options.outbox.entries();
    let i = entries[0]?.seq === entry.seq ? 1 : entries.findIndex((e) => e.seq > entry.seq);
    if (i === -1) return;
    for (; i < entries.length; i++) yield entries[i]!.change;
  }

  /**
   * Hashes the file, then streams it (both from one open file). false when there is no regular file at
   * `bodyPath`. A file that changes while it is read is read again a few times; if it never holds still, it is
   * left to the watcher, which reports its next change as a new upload.
   */
  private async uploadFrom(path: string, bodyPath: string, user: string | undefined): Promise<boolean> {
    for (let attempt = 1; attempt <= BODY_ATTEMPTS; attempt++) {
      const body = await BodyFile.open(join(this.options.root, bodyPath));
      if (!body) return false;
      try {
        const { sha256, size } = await body.digest();
        // Changing while hashed: announcing it now would leave the relay waiting for a body that cannot match.
        if (await body.changedSinceOpen()) {
          await sleep(200 * attempt, this.signal);
          continue;
        }
        const modified = new Date(body.stat.mtimeMs).toISOString();
        const receipt = await this.options.client.uploadFile(
          { action: 'upload', path: this.vfs(path), size, sha256, modified, user },
          () => body.stream(),
          { signal: this.signal, uploads: this.options.uploads },
        );
        this.noteIgnored(receipt, this.vfs(path));
        return true;
      } catch (error) {
        if (!isBodyChange(error)) throw error;
        this.options.logger.info('file changed while it was sent; reading it again', { path, attempt });
      } finally {
        await body.close();
      }
    }
    this.options.logger.info('file keeps changing; its next change will send it', { path });
    return true;
  }

  /**
   * Uploads an earlier run left open on the relay (stopped or killed in the middle): given up before anything is
   * sent, so that sending them again is not held back behind them. One that cannot be given up now (the relay does
   * not answer) stays listed for the next start; the relay lets it expire meanwhile.
   */
  private async abandonLeftOpen(): Promise<void> {
    const { uploads } = this.options;
    for (const id of uploads?.left ?? []) {
      if (this.signal.aborted) return;
      if (await this.options.client.abandonUpload(id)) {
        await uploads!.closed(id);
        this.options.logger.info('gave up an upload an earlier run left open', { changeId: id });
      }
    }
  }

  private async submit(change: ChangeRequest): Promise<void> {
    this.noteIgnored(await this.options.client.submitChange(change, { signal: this.signal }), change.path);
  }

  /**
   * A change the relay took and did not journal (200 IGNORED) is done for the agent, but for a reason other than
   * an echo it usually means a setting is off — `--vfs` outside every replicated location of the relay, `--user`
   * the replication user — and nothing would reach the peers: said once per reason, as a warning.
   */
  private noteIgnored(receipt: { status: string; reason?: string }, path: string): void {
    if (receipt.status !== 'IGNORED' || receipt.reason === 'ECHO' || receipt.reason === undefined) return;
    if (this.ignoredReasons.has(receipt.reason)) return;
    this.ignoredReasons.add(receipt.reason);
    this.options.logger.warn(`the relay takes changes like this one and replicates none of them (${receipt.reason})`, {
      path,
      reason: receipt.reason,
      hint: IGNORED_HINTS[receipt.reason] ?? 'see the relay’s docs/api.md',
    });
  }

  /** A rename at outbox position `seq` from below a folder sent as a tree, queued before that tree was listed. */
  private queuedBeforeRebuilt(seq: number, from: string): boolean {
    const oldest = this.options.outbox.entries()[0]?.seq ?? seq;
    let found = false;
    for (const [folder, upTo] of this.rebuilt) {
      if (upTo < oldest)
        this.rebuilt.delete(folder); // every change queued by then has left the outbox
      else if (seq <= upTo && from.startsWith(`${folder}/`)) found = true;
    }
    return found;
  }

  private forgetAbsent(path: string): void {
    for (const p of [...this.absent]) if (isSameOrBelow(p, path)) this.absent.delete(p);
    for (const p of [...this.rebuilt.keys()]) if (isSameOrBelow(p, path)) this.rebuilt.delete(p);
  }

  private vfs(rel: string): string {
    return vfsPath(this.options.vfs, rel);
  }

  /** Logs a stall once when it starts (not at every retry); other failures each time. */
  private reportFailure(entry: OutboxEntry, error: unknown, failures: number): void {
    const fields = { seq: entry.seq, action: entry.change.action, path: entry.change.path, error };
    const stall = stallOf(error);
    if (stall) {
      if (this.stalled?.kind === stall) return;
      this.stalled = { kind: stall, since: this.stalled?.since ?? this.clock.now() };
      const level = stall === 'unreachable' || stall === 'throttled' ? 'warn' : 'error';
      this.options.logger[level](STALL_MESSAGES[stall], { ...fields, queued: this.options.outbox.size });
      return;
    }
    this.options.logger.warn('could not send a change; will try again', { ...fields, failures });
  }

  /** Records the change in refused.jsonl (durably, before the outbox lets go of it) and says so at error level. */
  private async setAside(entry: OutboxEntry, error: Error): Promise<void> {
    const status = error instanceof RelayRefusedError ? error.status : undefined;
    const code = (error as { code?: string }).code;
    const record = {
      ...entry,
      refusedAt: new Date(this.clock.now()).toISOString(),
      status,
      code,
      message: error.message,
    };
    await this.options.refused.add(record);
    // The peer does not have this version: a later rename from this path must not become a MOVE of older bytes.
    if (entry.change.action === 'upload') this.absent.add(entry.change.path);
    if (entry.change.action === 'rename') this.absent.add(entry.change.target);
    this.options.logger.error('change refused and set aside; see `vfs-relay agent refused`', {
      seq: entry.seq,
      action: entry.change.action,
      path: entry.change.path,
      status,
      code,
      error: error.message,
      refused: this.refused,
      state: this.options.outbox.dir,
    });
  }
}

function stallOf(error: unknown): Stall | undefined {
  if (error instanceof RelayUnavailableError) return error.isThrottled ? 'throttled' : 'unreachable';
  if (error instanceof UploadUrlRefusedError) return 'uploadUrls';
  if (!(error instanceof RelayRefusedError)) return undefined;
  return error.isAuthorization ? 'unauthorized' : error.isRedirect ? 'redirected' : 'rejected';
}

function isBodyChange(error: unknown): boolean {
  if (error instanceof BodyChangedError) return true;
  return error instanceof RelayRefusedError && (error.code === 'CHECKSUM_MISMATCH' || error.code === 'SIZE_MISMATCH');
}

/** True when `absolute` is a folder now (not through a symbolic link). */
function isFolder(absolute: string): boolean {
  try {
    return lstatSync(absolute).isDirectory();
  } catch {
    return false;
  }
}
