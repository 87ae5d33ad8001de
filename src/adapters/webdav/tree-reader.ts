import { createHash } from 'node:crypto';
import { byName, type TreeItem, TreeReadError, type TreeReader } from '../../core/jobs/tree.js';
import { normalizePath } from '../../core/paths.js';
import { classifyNetworkError } from './classify.js';
import { DavAnswerTooLargeError, DavClient, type DavClientOptions } from './dav-client.js';
import { type DavResource, hrefPath, PROPFIND_BODY, parseMultistatus } from './multistatus.js';

/** The largest listing of one folder read (its XML): a folder is held in memory whole while it is compared. */
const MAX_LISTING_BYTES = 128 * 1024 * 1024;

/**
 * Reads a WebDAV server folder by folder for verify and resync jobs: `PROPFIND Depth: 1` per folder (never
 * `infinity`, which servers refuse or answer with the whole tree), `GET` streamed through SHA-256 for checksums.
 */
export class WebDavTreeReader implements TreeReader {
  readonly client: DavClient;

  constructor(
    readonly name: string,
    options: DavClientOptions,
  ) {
    this.client = new DavClient(options);
  }

  async stat(path: string, signal?: AbortSignal): Promise<TreeItem | undefined> {
    const found = await this.propfind(path, '0', signal);
    const self = found?.find((r) => r.path === hrefPath(this.client.urls.path(path)));
    return self ? item(self) : undefined;
  }

  async list(path: string, signal?: AbortSignal): Promise<TreeItem[] | undefined> {
    const found = await this.propfind(path, '1', signal);
    if (!found) return undefined;
    const selfPath = hrefPath(this.client.urls.path(path, true));
    const self = found.find((r) => r.path === selfPath);
    if (!self?.collection) return undefined; // a file, or an answer that does not describe this folder
    return found
      .filter((r) => r !== self && r.path.startsWith(selfPath === '/' ? '/' : `${selfPath}/`))
      .map(item)
      .filter((i) => i.name !== '')
      .map((i) => (replicable(i.name) ? i : { ...i, unsupported: true as const }))
      .sort(byName);
  }

  async checksum(path: string, signal?: AbortSignal): Promise<string> {
    const requestPath = this.client.urls.path(path);
    const res = await this.guard(`GET ${path}`, () => this.client.request('GET', requestPath, { signal }));
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw this.refusal(res.statusCode, `GET ${path}`);
    }
    const hash = createHash('sha256');
    await this.guard(`GET ${path}`, async () => {
      for await (const chunk of res.body) hash.update(chunk as Buffer);
    });
    return hash.digest('hex');
  }

  close(): Promise<void> {
    return this.client.close();
  }

  private async propfind(path: string, depth: '0' | '1', signal?: AbortSignal): Promise<DavResource[] | undefined> {
    const what = `PROPFIND ${path}`;
    const answer = await this.guard(what, () =>
      this.client.text(
        'PROPFIND',
        this.client.urls.path(path, depth === '1'),
        { headers: { depth, 'content-type': 'application/xml; charset=utf-8' }, body: PROPFIND_BODY, signal },
        MAX_LISTING_BYTES,
      ),
    );
    if (answer.status === 404) return undefined;
    if (answer.status !== 207) throw this.refusal(answer.status, what);
    let found: DavResource[];
    try {
      found = parseMultistatus(answer.text);
    } catch (error) {
      throw new TreeReadError(`${this.name}: ${what} answered XML the relay cannot read (${(error as Error).message})`);
    }
    // A member the server could not describe is neither absent nor a file: comparing without it could copy over
    // it or remove it (a folder read as an empty file is replaced). The job stops instead, naming it.
    const unreadable = found.find((r) => r.unreadable !== undefined);
    if (unreadable) {
      throw new TreeReadError(
        `${this.name}: ${what} could not describe ${unreadable.path} (${String(unreadable.unreadable).trim().slice(0, 100)})`,
      );
    }
    return found;
  }

  private refusal(status: number, what: string): TreeReadError {
    if (status === 401 || status === 403) {
      return new TreeReadError(`${this.name} refused the relay's credentials (${what}: HTTP ${status})`);
    }
    return new TreeReadError(`${this.name} answered HTTP ${status} to ${what}`);
  }

  /** Network failures and oversized answers become TreeReadErrors that name the server, never its password. */
  private async guard<T>(what: string, task: () => Promise<T>): Promise<T> {
    try {
      return await task();
    } catch (error) {
      if (error instanceof DavAnswerTooLargeError) throw new TreeReadError(`${this.name}: ${error.message}`);
      const offline = classifyNetworkError(error);
      if (offline?.kind === 'offline')
        throw new TreeReadError(`cannot reach ${this.name} (${what}: ${offline.reason})`);
      throw error;
    }
  }
}

/** A name the relay can journal (normalizePath's rules); anything else is marked unsupported (not compared). */
function replicable(name: string): boolean {
  if (name === '') return false;
  try {
    return normalizePath(`/${name}`) === `/${name}`;
  } catch {
    return false;
  }
}

function item(resource: DavResource): TreeItem {
  const name = resource.path.slice(resource.path.lastIndexOf('/') + 1);
  const out: TreeItem = { name, type: resource.collection ? 'dir' : 'file' };
  if (!resource.collection) out.size = resource.size ?? 0;
  if (resource.modified) out.modified = resource.modified;
  if (resource.etag) out.etag = resource.etag;
  return out;
}
