import type { JournalEntry } from '../../core/entry.js';
import type { JobWriteResult, JobWriter } from '../../core/jobs/job-peer.js';
import type { Logger } from '../../core/logger.js';
import { parentOf } from '../../core/paths.js';
import { classifyNetworkError, classifyStatus } from './classify.js';
import { type DavClient, header } from './dav-client.js';
import { copiedProperty, PROPFIND_BODY, parseMultistatus, RELAY_NAMESPACE } from './multistatus.js';

export interface WebDavJobWriterOptions {
  /** The peer the entries are for. */
  peer: DavClient;
  /** Sources and peers a copy may read from, by name. */
  sources: ReadonlyMap<string, DavClient>;
  /** Write the source's modified time as `Win32LastModifiedTime` after a copy (the peer's setModifiedTime). */
  setModifiedTime: boolean;
  logger?: Logger;
}

const MAX_KNOWN_COLLECTIONS = 10_000;

/**
 * Carries out a resync's journal entries on a WebDAV peer: a copy streams the source's GET into the peer's PUT
 * (then PROPPATCHes the modified time), a makedir is a MKCOL, a removal a DELETE. Every write is conditional on
 * what the job saw when it compared: `If-None-Match: *` where the peer had nothing, the WebDAV `If` header with
 * the ETag it had otherwise. A peer that changed since answers 412, and the write is skipped, not forced.
 */
export class WebDavJobWriter implements JobWriter {
  private readonly known = new Set<string>(['/']);
  /** The peer cannot evaluate WebDAV `If` conditions: `If-Match` is sent instead (see ifHeaderIgnored). */
  private ifMatchInstead = false;

  constructor(private readonly options: WebDavJobWriterOptions) {}

  async write(entry: JournalEntry, signal?: AbortSignal): Promise<JobWriteResult> {
    try {
      switch (entry.action) {
        case 'upload':
          return await this.copy(entry, signal, true);
        case 'makedir':
          return await this.makedir(entry.path, signal);
        case 'delete':
          return await this.remove(entry, signal);
        default:
          return { kind: 'failed', reason: `a job does not write ${entry.action} entries` };
      }
    } catch (error) {
      const offline = classifyNetworkError(error);
      if (offline && offline.kind !== 'applied') return { kind: 'retry', outcome: offline };
      throw error;
    }
  }

  private async copy(entry: JournalEntry, signal: AbortSignal | undefined, firstTry: boolean): Promise<JobWriteResult> {
    const source = entry.from ? this.options.sources.get(entry.from) : undefined;
    if (!source) return { kind: 'failed', reason: `no source named "${entry.from}" is configured` };
    const parents = await this.ensureCollections(parentOf(entry.path), signal);
    if (parents) return parents;
    let got: Awaited<ReturnType<DavClient['request']>>;
    try {
      got = await source.request('GET', source.urls.path(entry.path), { signal });
    } catch (error) {
      if (signal?.aborted) throw error;
      const code = classifyNetworkError(error);
      return {
        kind: 'failed',
        reason: `cannot read ${entry.from} (${code?.kind === 'offline' ? code.reason : error})`,
      };
    }
    if (got.statusCode !== 200) {
      await got.body.dump();
      if (got.statusCode === 404) return { kind: 'skipped', reason: `no longer on ${entry.from}` };
      return { kind: 'failed', reason: `${entry.from} answered HTTP ${got.statusCode} to GET` };
    }
    const etag = header(got.headers, 'etag');
    if (entry.fromEtag && etag && strongPart(etag) !== strongPart(entry.fromEtag)) {
      await got.body.dump();
      return { kind: 'skipped', reason: `${entry.from} changed at this path since the job compared` };
    }
    const length = header(got.headers, 'content-length');
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream', ...this.condition(entry) };
    if (length !== undefined) headers['content-length'] = length;
    let sourceFailed: unknown;
    got.body.once('error', (error) => {
      sourceFailed = error;
    });
    let put: Awaited<ReturnType<DavClient['request']>>;
    try {
      put = await this.options.peer.request('PUT', this.options.peer.urls.path(entry.path), {
        headers,
        body: got.body,
        signal,
      });
    } catch (error) {
      // The source broke off mid-body: not the peer's fault, so not a reason to take the peer offline.
      if (sourceFailed !== undefined && !signal?.aborted) {
        return { kind: 'failed', reason: `reading ${entry.from} broke off (${(sourceFailed as Error).message})` };
      }
      throw error;
    } finally {
      if (!got.body.destroyed) got.body.destroy();
    }
    await put.body.dump();
    if (put.statusCode === 412 && firstTry && (await this.ifHeaderIgnored(entry, signal))) {
      return this.copy(entry, signal, false);
    }
    if (put.statusCode === 409 && firstTry) {
      // A folder the cache knew is gone (removed on the peer meanwhile, maybe a grandparent): make them again and
      // read the source again.
      this.forgetAncestors(entry.path);
      return this.copy(entry, signal, false);
    }
    const result = this.outcome(put.statusCode, `PUT ${entry.path}`, Number(length ?? entry.size ?? 0));
    if (result.kind === 'written' && entry.modified && this.options.setModifiedTime) {
      // The server's own clock says when it stored the copy (see effectiveModified).
      const written = header(put.headers, 'date') ?? new Date().toUTCString();
      await this.setModified(entry.path, entry.modified, written, signal);
    }
    return result;
  }

  private async makedir(path: string, signal: AbortSignal | undefined, firstTry = true): Promise<JobWriteResult> {
    const parents = await this.ensureCollections(parentOf(path), signal);
    if (parents) return parents;
    const res = await this.options.peer.request('MKCOL', this.options.peer.urls.path(path, true), { signal });
    await res.body.dump();
    if (res.statusCode === 409 && firstTry) {
      // A parent the cache knew is gone from the peer: make every folder of the path again.
      this.forgetAncestors(path);
      return this.makedir(path, signal, false);
    }
    // 405: something is there now (RFC 4918 §9.3.1) — made by someone else since the job compared.
    if (res.statusCode === 405) return { kind: 'skipped', reason: 'something is at this path on the peer now' };
    const result = this.outcome(res.statusCode, `MKCOL ${path}`, 0);
    if (result.kind === 'written') this.remember(path);
    return result;
  }

  private async remove(entry: JournalEntry, signal: AbortSignal | undefined, firstTry = true): Promise<JobWriteResult> {
    const res = await this.options.peer.request('DELETE', this.options.peer.urls.path(entry.path), {
      headers: this.condition(entry),
      signal,
    });
    await res.body.dump();
    if (res.statusCode === 412 && firstTry && (await this.ifHeaderIgnored(entry, signal))) {
      return this.remove(entry, signal, false);
    }
    this.forget(entry.path);
    if (res.statusCode === 404) return { kind: 'skipped', reason: 'already gone from the peer' };
    return this.outcome(res.statusCode, `DELETE ${entry.path}`, 0);
  }

  private outcome(status: number, what: string, bytes: number): JobWriteResult {
    if (status >= 200 && status < 300) return { kind: 'written', bytes };
    if (status === 412 || status === 424) {
      return { kind: 'skipped', reason: 'the peer changed at this path since the job compared' };
    }
    const outcome = classifyStatus(status, what);
    if (outcome.kind === 'offline' || outcome.kind === 'unauthorized') return { kind: 'retry', outcome };
    return { kind: 'failed', reason: `${what}: HTTP ${status}` };
  }

  /**
   * After a 412 to a write conditional on the version the job saw (the WebDAV `If` header): true when the peer
   * still holds that very version, so the peer cannot evaluate such a condition (golang.org/x/net/webdav, as in
   * `rclone serve webdav`, refuses every `If` with an ETag: no resync would ever overwrite or remove a file there).
   * From then on this writer sends `If-Match` instead, which such servers may ignore: said once, as a warning.
   */
  private async ifHeaderIgnored(entry: JournalEntry, signal: AbortSignal | undefined): Promise<boolean> {
    if (!entry.ifMatch || this.ifMatchInstead) return false;
    const answer = await this.options.peer.text(
      'PROPFIND',
      this.options.peer.urls.path(entry.path),
      { headers: { depth: '0', 'content-type': 'application/xml; charset=utf-8' }, body: PROPFIND_BODY, signal },
      64 * 1024,
    );
    if (answer.status !== 207) return false;
    const [self] = parseMultistatus(answer.text);
    if (!self?.etag || strongPart(self.etag) !== strongPart(entry.ifMatch)) return false; // it did change
    this.ifMatchInstead = true;
    this.options.logger?.warn('the peer refuses WebDAV If conditions on a version it holds; using If-Match', {
      path: entry.path,
      hint: 'servers that ignore If-Match too overwrite what their own users changed since the job compared',
    });
    return true;
  }

  /** The precondition for writing where the job saw nothing (`If-None-Match: *`) or a version (`If`). */
  private condition(entry: JournalEntry): Record<string, string> {
    if (entry.ifNoneMatch) return { 'if-none-match': '*' };
    if (entry.ifMatch && this.ifMatchInstead) return { 'if-match': strongPart(entry.ifMatch) };
    if (entry.ifMatch) {
      // mod_dav answers weak ETags for a second after a write and strong ones later: either stands for the
      // version the job saw. The WebDAV If header (RFC 4918 §10.4) compares them as written, so list both. Tagged
      // with the resource's URL: for a DELETE mod_dav checks untagged conditions against the parent folder too.
      const strong = strongPart(entry.ifMatch);
      return { if: `<${this.options.peer.urls.url(entry.path)}> ([${strong}]) ([W/${strong}])` };
    }
    return {};
  }

  private async ensureCollections(
    path: string,
    signal: AbortSignal | undefined,
    firstTry = true,
  ): Promise<JobWriteResult | undefined> {
    if (this.known.has(path)) return undefined;
    let current = '';
    for (const segment of path.split('/').filter(Boolean)) {
      current = `${current}/${segment}`;
      if (this.known.has(current)) continue;
      const res = await this.options.peer.request('MKCOL', this.options.peer.urls.path(current, true), { signal });
      await res.body.dump();
      if (res.statusCode === 409 && firstTry && current !== `/${segment}`) {
        // A parent the cache knew is gone from the peer: make every folder of the path again.
        this.forgetAncestors(current);
        return this.ensureCollections(path, signal, false);
      }
      if (res.statusCode !== 201 && res.statusCode !== 405) {
        const outcome = classifyStatus(res.statusCode, `MKCOL ${current}`);
        if (outcome.kind === 'offline' || outcome.kind === 'unauthorized') return { kind: 'retry', outcome };
        return { kind: 'failed', reason: `MKCOL ${current}: HTTP ${res.statusCode}` };
      }
      this.remember(current);
    }
    return undefined;
  }

  /**
   * The source's modified time as `Win32LastModifiedTime`, and `R:copied` to recognise the copy later (see
   * effectiveModified). Best effort, like mdtm replay: a peer that refuses the properties still holds the right
   * bytes (and verify then needs `checksum`).
   */
  private async setModified(
    path: string,
    modified: string,
    written: string,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const body =
      '<?xml version="1.0" encoding="utf-8"?>' +
      '<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:" ' +
      `xmlns:R="${RELAY_NAMESPACE}"><D:set><D:prop>` +
      `<Z:Win32LastModifiedTime>${new Date(modified).toUTCString()}</Z:Win32LastModifiedTime>` +
      `<R:copied>${copiedProperty(modified, written)}</R:copied>` +
      '</D:prop></D:set></D:propertyupdate>';
    const res = await this.options.peer.request('PROPPATCH', this.options.peer.urls.path(path), {
      headers: { 'content-type': 'application/xml; charset=utf-8' },
      body,
      signal,
    });
    await res.body.dump();
    if (res.statusCode !== 207 && res.statusCode !== 200) {
      this.options.logger?.info('peer refused the modified time of a resync copy', { path, status: res.statusCode });
    }
  }

  private remember(path: string): void {
    if (this.known.size >= MAX_KNOWN_COLLECTIONS) this.known.clear();
    this.known.add(path);
  }

  /** Forgets every folder above `path` (and what is below its parent): one of them is gone from the peer. */
  private forgetAncestors(path: string): void {
    this.forget(parentOf(path));
    for (let parent = parentOf(path); parent !== '/'; parent = parentOf(parent)) this.known.delete(parent);
  }

  private forget(path: string): void {
    for (const known of this.known) {
      if (known === path || known.startsWith(`${path}/`)) this.known.delete(known);
    }
    this.known.add('/');
  }
}

/** `W/"x"` and `"x"` name the same version for our purpose: compare the quoted part. */
function strongPart(etag: string): string {
  return etag.startsWith('W/') ? etag.slice(2) : etag;
}
