import { Readable } from 'node:stream';
import { type Dispatcher, Pool } from 'undici';
import { releaseStream } from '../../core/bytes.js';
import type { JournalEntry } from '../../core/entry.js';
import type { StoredBody } from '../../core/journal.js';
import type { Logger } from '../../core/logger.js';
import { parentOf, pathsOverlap } from '../../core/paths.js';
import type { Peer, ReplayOutcome } from '../../core/peer.js';
import { asReadable } from '../node-bytes.js';
import { classifyNetworkError, classifyStatus } from './classify.js';
import { PeerUrls, slashedDestination, slashRedirect } from './paths.js';

export interface WebDavPeerOptions {
  name: string;
  url: string;
  username?: string;
  password?: string;
  /** Keep-alive connections to the peer (bounded pool). */
  connections?: number;
  /** Per-request timeout for headers and for each body chunk, in ms. */
  timeoutMs?: number;
  /** Replay modified times with PROPPATCH (default true); when false, mdtm entries count as applied unsent. */
  setModifiedTime?: boolean;
  /**
   * Replicated locations (relay paths) the probe tries when the base URL answers 403: a server that lets the
   * replication user work below its locations may refuse listing the root. At most the first four are tried.
   */
  probePaths?: readonly string[];
  /**
   * A deadline for a whole probe (every PROPFIND it makes), in ms: past it the peer counts as OFFLINE. Unset, each
   * request has `timeoutMs`. Set where the caller must answer sooner (the API function behind API Gateway's 29 s).
   */
  probeTimeoutMs?: number;
  logger?: Logger;
}

interface DavResponse {
  status: number;
  text: string;
  /** The Retry-After header (429, 503). */
  retryAfter?: string | string[];
  /** The Location header (3xx). */
  location?: string | string[];
}

const MAX_KNOWN_COLLECTIONS = 100_000;

/**
 * A WebDAV secondary (RFC 4918). Maps each entry to one method — PUT, MKCOL, DELETE, MOVE, PROPPATCH — creating
 * missing parent collections first (cached per peer), and classifies every answer into a ReplayOutcome.
 */
export class WebDavPeer implements Peer {
  readonly name: string;
  private readonly urls: PeerUrls;
  private readonly pool: Pool;
  private readonly authorization: string | undefined;
  private readonly known = new Set<string>(['/']);
  private readonly logger: Logger | undefined;
  private readonly setsModifiedTime: boolean;
  private readonly probePaths: readonly string[];
  private readonly probeTimeoutMs: number | undefined;

  constructor(options: WebDavPeerOptions) {
    this.name = options.name;
    this.setsModifiedTime = options.setModifiedTime ?? true;
    this.probePaths = (options.probePaths ?? []).filter((p) => p !== '/').slice(0, 4);
    this.probeTimeoutMs = options.probeTimeoutMs;
    this.urls = new PeerUrls(options.url);
    const timeout = options.timeoutMs ?? 60_000;
    this.pool = new Pool(this.urls.origin, {
      connections: options.connections ?? 8,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: timeout,
      bodyTimeout: timeout,
      connectTimeout: Math.min(timeout, 10_000),
    });
    this.authorization =
      options.username !== undefined
        ? `Basic ${Buffer.from(`${options.username}:${options.password ?? ''}`).toString('base64')}`
        : undefined;
    this.logger = options.logger;
  }

  /**
   * PROPFIND (Depth 0) of the base URL; when that is forbidden (403), of each replicated location in turn: the
   * credentials work if any of them answers. 401 is the credentials refused, wherever it is asked.
   */
  async probe(): Promise<ReplayOutcome> {
    const deadline = this.probeTimeoutMs;
    const signal = deadline === undefined ? undefined : AbortSignal.timeout(deadline);
    return this.guard(async () => {
      if (signal) {
        try {
          return await this.probeWith(signal);
        } catch (error) {
          if (!signal.aborted) throw error;
          const seconds = Math.round(deadline! / 100) / 10;
          return { kind: 'offline', reason: `PROPFIND: no answer within the probe's ${seconds} s`, code: 'TIMEOUT' };
        }
      }
      return this.probeWith(undefined);
    });
  }

  private async probeWith(signal: AbortSignal | undefined): Promise<ReplayOutcome> {
    const res = await this.send('PROPFIND', this.urls.root(), { depth: '0' }, undefined, signal);
    if (answers(res.status)) return { kind: 'applied' };
    if (res.status === 403) {
      for (const path of this.probePaths) {
        const inside = await this.send('PROPFIND', this.urls.path(path, true), { depth: '0' }, undefined, signal);
        if (answers(inside.status)) return { kind: 'applied' };
        if (inside.status !== 403) return classifyStatus(inside.status, `PROPFIND ${path}`, inside.retryAfter);
      }
    }
    return classifyStatus(res.status, 'PROPFIND /', res.retryAfter);
  }

  async apply(entry: JournalEntry, openBody: () => Promise<StoredBody>, signal?: AbortSignal): Promise<ReplayOutcome> {
    return this.guard(async () => {
      switch (entry.action) {
        case 'upload':
        case 'config_put':
          return this.put(entry, openBody, signal);
        case 'makedir':
          // Always asked of the peer: the cache may hold a folder removed there since (by the peer's own users, an
          // active-active node, or a resync), and a makedir answered from it would leave the folder missing.
          this.known.delete(entry.path);
          return this.withFreshParents(entry.path, () => this.makeCollections(entry.path, signal));
        case 'delete':
        case 'config_delete':
          return this.remove(entry.path, signal);
        case 'rename':
          return this.withFreshParents(entry.target!, () => this.move(entry.path, entry.target!, signal));
        case 'mdtm':
          if (!this.setsModifiedTime) return { kind: 'applied', detail: 'modified times are off for this peer' };
          return this.setModified(entry.path, entry.modified!, signal);
      }
    });
  }

  /**
   * Closes the connections: at once for requests still out after CLOSE_GRACE_MS (at shutdown, the replayer has
   * given its replays their grace already; a peer that never answers, or trickles a large body, would otherwise
   * hold the process for the request timeout or the whole transfer).
   */
  async close(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), CLOSE_GRACE_MS);
    });
    const closed = this.pool.close().then(() => 'closed' as const);
    try {
      if ((await Promise.race([closed, late])) === 'late') await this.pool.destroy();
    } finally {
      clearTimeout(timer);
    }
  }

  private async put(
    entry: JournalEntry,
    openBody: () => Promise<StoredBody>,
    signal: AbortSignal | undefined,
  ): Promise<ReplayOutcome> {
    // The body first: a journal that refuses to hand it out (missing, replaced since the commit) fails the attempt
    // before any request reaches the peer.
    const body = await openBody();
    let parents: ReplayOutcome;
    try {
      parents = await this.makeCollections(parentOf(entry.path), signal);
    } catch (error) {
      discard(body);
      throw error;
    }
    if (parents.kind !== 'applied') {
      discard(body);
      return parents;
    }
    const headers: Record<string, string> = {
      'content-type': entry.contentType ?? 'application/octet-stream',
      'content-length': String(entry.size ?? 0),
    };
    let res = await this.send('PUT', this.urls.path(entry.path), headers, body, signal);
    if (res.status === 409) {
      // Our cache said the parent existed but it does not (removed on the peer, maybe with a grandparent): rebuild
      // every folder of the path and try once more.
      this.forget(parentOf(entry.path));
      this.forgetAncestors(entry.path);
      const again = await this.makeCollections(parentOf(entry.path), signal);
      if (again.kind !== 'applied') return again;
      res = await this.send('PUT', this.urls.path(entry.path), headers, await openBody(), signal);
    }
    const outcome = classifyStatus(res.status, `PUT ${entry.path}`, res.retryAfter);
    if (outcome.kind === 'applied' && entry.modified && this.setsModifiedTime) {
      await this.setModified(entry.path, entry.modified, signal);
    }
    return outcome;
  }

  /** MKCOL of `path` and every missing ancestor, top down. An existing collection counts as created. */
  private async makeCollections(path: string, signal: AbortSignal | undefined): Promise<ReplayOutcome> {
    if (this.known.has(path)) return { kind: 'applied' };
    const segments = path.split('/').filter(Boolean);
    let current = '';
    for (const segment of segments) {
      current = `${current}/${segment}`;
      if (this.known.has(current)) continue;
      const res = await this.send('MKCOL', this.urls.path(current, true), {}, undefined, signal);
      // 201 created; 405 Method Not Allowed = something already exists there (RFC 4918 §9.3.1).
      const present = res.status === 201 || res.status === 405;
      if (!present) {
        const refused = classifyStatus(res.status, `MKCOL ${current}`, res.retryAfter);
        // 423: a server that locks each request (rclone) answers the loser of a MKCOL race so: checked like 403.
        if ((refused.kind === 'offline' && res.status !== 423) || res.status === 401) return refused;
        const probe = await this.collectionAt(current, signal);
        // The check itself failed (a 5xx, 429, ...): nothing is known yet; the attempt is repeated, not parked.
        if (typeof probe === 'number') {
          const unknown = classifyStatus(probe, `PROPFIND ${current} (after MKCOL: HTTP ${res.status})`);
          if (unknown.kind === 'offline') return unknown;
        }
        if (probe !== true) return refused;
      }
      this.remember(current);
    }
    return { kind: 'applied' };
  }

  /**
   * Whether a collection exists at `path` now (true/false), or the status of a check that did not say (a 5xx,
   * 429, ...). Asked after a failed MKCOL: when a concurrent MKCOL of the same folder wins the race (parallel
   * uploads into one new folder), mod_dav_fs answers the loser 403 (mkdir EEXIST), which must not read as "bad
   * credentials" — nor may a failed check turn that 403 into a CONFLICT.
   */
  private async collectionAt(path: string, signal: AbortSignal | undefined): Promise<boolean | number> {
    const res = await this.send(
      'PROPFIND',
      this.urls.path(path, true),
      { depth: '0', 'content-type': 'application/xml; charset=utf-8' },
      '<?xml version="1.0" encoding="utf-8"?>' +
        '<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/></D:prop></D:propfind>',
      signal,
      CHECKED_ANSWER_BYTES, // the whole answer: a deep non-ASCII href alone is longer than KEPT_ANSWER_BYTES
    );
    if (res.status === 207) return /<(?:[\w.-]+:)?collection\b/.test(res.text);
    return res.status === 404 ? false : res.status;
  }

  private async remove(path: string, signal: AbortSignal | undefined): Promise<ReplayOutcome> {
    // Named as the change names it: a folder on a server that wants its slash costs a redirect (slashRedirect). The
    // cache of folders is no guide: the name may hold a file now, and `DELETE /x/` of a file is refused (400).
    let res = await this.send('DELETE', this.urls.path(path), {}, undefined, signal);
    if (res.status === 409 || res.status === 400) {
      // nginx deletes a folder only at its URL with the slash (409 "Is a directory" without it). A file asked
      // for with the slash is refused in turn, and the first answer stands.
      const again = await this.send('DELETE', this.urls.path(path, true), {}, undefined, signal);
      if (again.status >= 200 && again.status < 300) res = again;
    }
    this.forget(path);
    if (res.status === 404) return { kind: 'applied', detail: 'already absent' };
    if (res.status === 207) return partly(`DELETE ${path}`);
    return classifyStatus(res.status, `DELETE ${path}`, res.retryAfter);
  }

  private async move(from: string, to: string, signal: AbortSignal | undefined): Promise<ReplayOutcome> {
    // Never sent: onto an ancestor, mod_dav_fs deletes the destination (source included) before failing with 500;
    // onto itself or into its own subtree it answers 403, which would read as bad credentials.
    if (pathsOverlap(from, to)) return { kind: 'conflict', reason: `MOVE ${from} -> ${to}: paths overlap` };
    // The target's folder is asked of the peer, not taken from the cache: a MOVE into a folder removed there since
    // is answered 500 by mod_dav_fs (409 by the RFC), which reads as the peer failing, not as a missing folder.
    this.known.delete(parentOf(to));
    const parents = await this.makeCollections(parentOf(to), signal);
    if (parents.kind !== 'applied') return parents;
    // Never a MOVE of a source that is not there: golang.org/x/net/webdav (rclone serve webdav, and other servers
    // built on it) removes the destination (Overwrite: T) before it finds the source missing — a rename sent again
    // after it was applied (a crash in between) deleted the file it had moved.
    const source = await this.send('PROPFIND', this.urls.path(from), { depth: '0' }, undefined, signal);
    if (source.status === 404) return this.sourceMissing(from, to, signal);
    let res = await this.send(
      'MOVE',
      this.urls.path(from),
      { destination: this.urls.url(to), overwrite: 'T' },
      undefined,
      signal,
    );
    if (res.status === 400 || res.status === 409) {
      // nginx moves a folder only between URLs with the slash (400 "is collection", 409 onto a folder, without).
      // A file asked for so is refused in turn, and the first answer stands (a 409 for a missing parent, say).
      const again = await this.send(
        'MOVE',
        this.urls.path(from, true),
        { destination: this.urls.url(to, true), overwrite: 'T' },
        undefined,
        signal,
      );
      if (again.status >= 200 && again.status < 300) res = again;
    }
    this.forget(from);
    // Source gone since it was looked at (the peer's own users): as above.
    if (res.status === 404) return this.sourceMissing(from, to, signal);
    if (res.status === 207) return partly(`MOVE ${from} -> ${to}`);
    return classifyStatus(res.status, `MOVE ${from} -> ${to}`, res.retryAfter);
  }

  /** A rename whose source the peer lacks: applied before a crash (the target is there), or a conflict. */
  private async sourceMissing(from: string, to: string, signal: AbortSignal | undefined): Promise<ReplayOutcome> {
    const target = await this.send('PROPFIND', this.urls.path(to), { depth: '0' }, undefined, signal);
    if (target.status === 207) return { kind: 'applied', detail: 'already moved' };
    if (target.status !== 404) return classifyStatus(target.status, `PROPFIND ${to}`, target.retryAfter);
    return { kind: 'conflict', reason: `MOVE ${from}: rename source missing on the peer (HTTP 404)` };
  }

  /**
   * Runs `attempt` again once when the peer answered 409 (a parent missing) and the cache had taken a parent of
   * `path` for present: it was removed on the peer behind the cache, which now forgets it, so the attempt makes it.
   */
  private async withFreshParents(path: string, attempt: () => Promise<ReplayOutcome>): Promise<ReplayOutcome> {
    const first = await attempt();
    if (first.kind !== 'conflict' || first.status !== 409) return first;
    return this.forgetAncestors(path) ? attempt() : first;
  }

  /** Forgets every folder above `path` from the cache; true when the cache held one of them. */
  private forgetAncestors(path: string): boolean {
    let forgotten = false;
    for (let parent = parentOf(path); parent !== '/'; parent = parentOf(parent)) {
      if (this.known.delete(parent)) forgotten = true;
    }
    return forgotten;
  }

  /**
   * PROPPATCH of the modified time. mod_dav_fs (and many servers) protect `getlastmodified`, so a refusal is
   * logged and counted as applied (CONTRACT: mdtm is best effort); the Win32 property is what Windows clients
   * and several servers honour.
   */
  private async setModified(path: string, modified: string, signal: AbortSignal | undefined): Promise<ReplayOutcome> {
    const date = new Date(modified).toUTCString();
    const body =
      '<?xml version="1.0" encoding="utf-8"?>' +
      '<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop>' +
      `<Z:Win32LastModifiedTime>${date}</Z:Win32LastModifiedTime>` +
      '</D:prop></D:set></D:propertyupdate>';
    const res = await this.send(
      'PROPPATCH',
      this.urls.path(path),
      { 'content-type': 'application/xml; charset=utf-8' },
      body,
      signal,
    );
    const outcome = classifyStatus(res.status === 207 ? 200 : res.status, `PROPPATCH ${path}`, res.retryAfter);
    // 403 refuses this property on this resource (credentials that fail answer 401): a refusal like any other. A
    // lock (423) or a redirect (3xx) on the file refuses it too, and so do 500 and 501 (rclone cannot open a folder
    // to set its time: 500): a modified time is best effort (CONTRACT), not worth a retry or a parked change.
    // A 207 whose property says 4xx/5xx is the server's refusal too (rclone: 403 for Win32LastModifiedTime).
    const refused =
      res.status === 403 ||
      res.status === 423 ||
      res.status === 500 ||
      res.status === 501 ||
      (res.status >= 300 && res.status < 400) ||
      (res.status === 207 && REFUSED_PROPSTAT.test(res.text));
    if (outcome.kind === 'conflict' || refused) {
      this.logger?.info('peer refused the modified time; recorded as applied', {
        peer: this.name,
        path,
        status: res.status,
      });
      return { kind: 'applied', detail: `modified time refused (HTTP ${res.status})` };
    }
    return outcome;
  }

  private send(
    method: string,
    path: string,
    headers: Record<string, string> = {},
    body?: StoredBody | string,
    signal?: AbortSignal,
    keepBytes = KEPT_ANSWER_BYTES,
  ): Promise<DavResponse> {
    if (signal?.aborted) {
      if (body && typeof body !== 'string') discard(body);
      return Promise.reject(abortedError());
    }
    const answer = exchange(
      this.pool,
      {
        method,
        path,
        headers: this.authorization ? { ...headers, authorization: this.authorization } : headers,
        body:
          body === undefined || typeof body === 'string' || body instanceof Uint8Array
            ? (body ?? null)
            : asReadable(body),
      },
      signal,
      keepBytes,
    );
    if (body !== undefined && typeof body !== 'string') return answer; // a body is sent once
    return answer.then((res) => {
      const slashed = slashRedirect(path, res.status, res.location);
      if (slashed === undefined) return res;
      // A folder addressed without its slash: the same request at the folder's URL (a MOVE's Destination too).
      return this.send(method, slashed, slashedDestination(headers), body, signal, keepBytes);
    });
  }

  private async guard(task: () => Promise<ReplayOutcome>): Promise<ReplayOutcome> {
    try {
      return await task();
    } catch (error) {
      const offline = classifyNetworkError(error);
      if (offline) return offline;
      throw error;
    }
  }

  private remember(path: string): void {
    if (this.known.size >= MAX_KNOWN_COLLECTIONS) this.known.clear();
    this.known.add(path);
  }

  private forget(path: string): void {
    for (const known of this.known) {
      if (known === path || known.startsWith(`${path}/`)) this.known.delete(known);
    }
  }
}

/**
 * A DELETE or MOVE of a folder the peer carried out for some members only (RFC 4918 §9.6.1, §9.9.4: 207 with the
 * members it could not remove): not applied, or the entry would be purged with the folder still there.
 */
function partly(what: string): ReplayOutcome {
  return {
    kind: 'conflict',
    reason: `${what}: the peer did it for part of the folder only (HTTP 207 Multi-Status; some members are locked or protected)`,
    status: 207,
  };
}

/** Releases a body that will not be sent (a stream holds a connection to the journal's storage). */
function discard(body: StoredBody): void {
  if (!(body instanceof Uint8Array)) releaseStream(body);
}

/** How long close() lets requests still out finish before it cuts them off. */
const CLOSE_GRACE_MS = 1_000;

/** How much of an answer's body is kept (it feeds conflict reasons); the rest is read and dropped. */
const KEPT_ANSWER_BYTES = 2048;
/** A propstat status of a PROPPATCH answer (207) that refused the property. */
const REFUSED_PROPSTAT = /<(?:[\w.-]+:)?status>\s*HTTP\/1\.[01]\s+[45]\d\d/i;

/** How much of an answer the relay reads for a decision (a Depth 0 PROPFIND of one folder). */
const CHECKED_ANSWER_BYTES = 64 * 1024;

/**
 * One request through the pool, answered with its status, the start of its body and Retry-After. A dispatch
 * handler instead of `pool.request`: no response stream, no async iteration over it, no async-hooks resource per
 * request — the same connection handling for a fraction of the CPU (the replayer sends one of these per change).
 * The whole answer is read, so the connection goes back to the pool.
 */
function exchange(
  pool: Pool,
  options: Dispatcher.DispatchOptions,
  signal: AbortSignal | undefined,
  keepBytes: number,
): Promise<DavResponse> {
  return new Promise<DavResponse>((resolve, reject) => {
    let status = 0;
    let retryAfter: string | string[] | undefined;
    let location: string | string[] | undefined;
    const kept: Buffer[] = [];
    let size = 0;
    let abort: ((reason: Error) => void) | undefined;
    // undici closes a stream body it has started to write; one that never got a connection (refused, timed out,
    // the pool closed while it waited) is left open, holding the journal's file or S3 connection.
    const releaseBody = () => {
      if (options.body instanceof Readable) releaseStream(options.body);
    };
    const done = () => signal?.removeEventListener('abort', onAbort);
    const onAbort = () => {
      if (abort) return abort(abortedError());
      // Still queued behind busy connections: answer now, not when a connection frees. undici starts the request
      // later and onRequestStart aborts it before anything is written (the promise has settled by then).
      done();
      releaseBody();
      reject(abortedError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    pool.dispatch(options, {
      onRequestStart(controller) {
        abort = (reason) => controller.abort(reason);
        if (signal?.aborted) controller.abort(abortedError());
      },
      onResponseStart(_controller, statusCode, headers) {
        status = statusCode;
        retryAfter = headers['retry-after'];
        location = headers.location;
        kept.length = 0; // a 1xx answer came first
        size = 0;
      },
      onResponseData(_controller, chunk) {
        if (size < keepBytes) kept.push(chunk.subarray(0, keepBytes - size));
        size += chunk.length;
      },
      onResponseEnd() {
        done();
        const text = kept.length === 0 ? '' : Buffer.concat(kept).toString('utf8');
        resolve({ status, text, retryAfter, location });
      },
      onResponseError(_controller, error) {
        done();
        releaseBody();
        reject(signal?.aborted ? abortedError() : error);
      },
    });
  });
}

/**
 * The caller gave up on the request (the replay lost its claim on the entry): the peer is not at fault, and the
 * caller ignores the outcome. Classified like any dropped connection, in case it does not.
 */
function abortedError(): Error {
  return Object.assign(new Error('request aborted by the replay'), { code: 'UND_ERR_ABORTED' });
}

/** A probe's PROPFIND answer that shows the peer up and the credentials taken (404, 405: nothing there to list). */
function answers(status: number): boolean {
  return status === 207 || status === 404 || status === 405;
}
