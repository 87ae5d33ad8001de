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
