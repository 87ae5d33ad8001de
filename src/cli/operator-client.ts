import { CliError } from './errors.js';

/** A tiny client for the operator endpoints, used by `vfs-relay status` and `vfs-relay journal …`. */
export class OperatorClient {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string | undefined,
  ) {}

  async get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  async post<T>(path: string, body?: unknown): Promise<T> {
    return this.call<T>('POST', path, body);
  }

  async delete<T>(path: string): Promise<T> {
    return this.call<T>('DELETE', path);
  }

  private async call<T>(method: string, path: string, json?: unknown): Promise<T> {
    if (!this.token) throw new CliError('no admin token: pass --token or set VFS_RELAY_ADMIN_TOKEN');
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl.replace(/\/+$/, '')}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(json === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: json === undefined ? undefined : JSON.stringify(json),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new CliError(`cannot reach the relay at ${this.baseUrl} (${cause})`);
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      throw new CliError(`the relay answered ${res.status} with a body that is not JSON`);
    }
    if (!res.ok) {
      const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new CliError(`${res.status} ${error?.code ?? 'ERROR'}: ${error?.message ?? text}`);
    }
    return body as T;
  }
}

/** Where it was defined before src/cli/errors.ts: kept for code that imports it from here. */
export { CliError } from './errors.js';
