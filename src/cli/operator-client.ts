import type { IncomingMessage, RequestOptions } from 'node:http';
import { CliError } from './errors.js';

const TIMEOUT_MS = 30_000;

interface Answer {
  status: number;
  text: string;
}

/**
 * A tiny client for the operator endpoints, used by `vfs-relay status`, `journal …` and `jobs …`. It speaks
 * node:http(s) rather than fetch: Node compiles its bundled undici on the first fetch, about 70 ms of CPU — half
 * of what starting `vfs-relay status` may take (docs/benchmarks.md, CLI start).
 */
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
    if (URL.canParse(this.baseUrl)) {
      const url = new URL(this.baseUrl);
      // Never sent (the admin token is), only ever printed back in an error: refused without showing it.
      if (url.username || url.password) {
        throw new CliError('--relay must not carry a user name or password (user:password@): the token is the login');
      }
    }
    if (!this.token) throw new CliError('no admin token: pass --token or set VFS_RELAY_ADMIN_TOKEN');
    const payload = json === undefined ? undefined : JSON.stringify(json);
    let answer: Answer;
    try {
      answer = await send(new URL(`${this.baseUrl.replace(/\/+$/, '')}${path}`), payload, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
        },
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (error) {
      const cause = (error as { code?: string }).code ?? (error as Error).message;
      throw new CliError(`cannot reach the relay at ${this.baseUrl} (${cause})`);
    }
    const { status, text } = answer;
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      throw new CliError(`the relay answered ${status} with a body that is not JSON`);
    }
    if (status < 200 || status > 299) {
      const error = (body as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new CliError(`${status} ${error?.code ?? 'ERROR'}: ${error?.message ?? text}`);
    }
    return body as T;
  }
}

/** One request, its answer read whole (operator answers are small JSON documents). */
async function send(url: URL, payload: string | undefined, options: RequestOptions): Promise<Answer> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw Object.assign(new Error(`not an http(s) URL`), { code: 'BAD_URL' });
  }
  const { request } = url.protocol === 'https:' ? await import('node:https') : await import('node:http');
  return new Promise<Answer>((resolve, reject) => {
    const req = request(url, options, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** Where it was defined before src/cli/errors.ts: kept for code that imports it from here. */
export { CliError } from './errors.js';
