/** Maps replicated paths onto a peer's base URL, percent-encoding every segment (spaces, `#`, `%`, unicode). */
export class PeerUrls {
  readonly origin: string;
  private readonly basePath: string;

  constructor(baseUrl: string) {
    const url = new URL(baseUrl);
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, '');
  }

  /** The request path (for the HTTP request line) of a replicated path; folders get a trailing slash. */
  path(replicated: string, collection = false): string {
    const encoded = replicated
      .split('/')
      .filter((s) => s !== '')
      .map(encodeURIComponent)
      .join('/');
    const joined = `${this.basePath}/${encoded}`;
    return collection && !joined.endsWith('/') ? `${joined}/` : joined;
  }

  /** The absolute URL (for the MOVE Destination header). */
  url(replicated: string, collection = false): string {
    return `${this.origin}${this.path(replicated, collection)}`;
  }

  /** The base collection itself. */
  root(): string {
    return `${this.basePath}/`;
  }
}

/**
 * The request path again with a trailing slash when an answer is a server's "this is a folder: add the slash"
 * redirect, otherwise undefined. Apache's mod_dir (loaded as Debian ships Apache, `DirectorySlash On`) answers a
 * folder's URL without the slash 301 for every method — DELETE, MOVE, PROPFIND, PROPPATCH — and a folder's name in
 * a change carries no slash. Only the path is compared: the Location may name the server's canonical host.
 */
export function slashRedirect(
  requestPath: string,
  status: number,
  location: string | string[] | undefined,
): string | undefined {
  if (status !== 301 && status !== 302 && status !== 307 && status !== 308) return undefined;
  if (requestPath.endsWith('/')) return undefined;
  const value = Array.isArray(location) ? location[0] : location;
  if (!value) return undefined;
  let target: URL;
  try {
    target = new URL(value, `http://peer${requestPath}`);
  } catch {
    return undefined;
  }
  const slashed = `${requestPath}/`;
  if (target.search !== '' || decoded(target.pathname) !== decoded(slashed)) return undefined;
  return slashed;
}

/** `headers` for the request sent again at a folder's URL: a MOVE's `Destination` names a folder too, with its slash. */
export function slashedDestination(headers: Record<string, string>): Record<string, string> {
  const destination = headers.destination;
  return destination !== undefined && !destination.endsWith('/')
    ? { ...headers, destination: `${destination}/` }
    : headers;
}

function decoded(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}
