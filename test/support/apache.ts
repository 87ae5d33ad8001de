import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.js';

/**
 * A real Apache httpd + mod_dav (mod_dav_fs) WebDAV server on a loopback port, for integration tests.
 *
 * Debian layout (`apt-get install apache2`): the binary is /usr/sbin/apache2, modules live in
 * /usr/lib/apache2/modules, htpasswd comes from apache2-utils. The generated configuration is self-contained (no
 * /etc/apache2, no APACHE_* environment variables): everything — pid file, logs, lock database, document root —
 * lives in one temporary folder that `close()` removes. Run as root (CI containers), the workers run as www-data:
 * the temporary folder is made world-traversable, so TMPDIR must not sit inside a folder closed to others.
 */

const run = promisify(execFile);

const APACHE = '/usr/sbin/apache2';
const MODULES = '/usr/lib/apache2/modules';
const HTPASSWD = ['/usr/bin/htpasswd', '/usr/sbin/htpasswd'].find((p) => existsSync(p));
const REQUIRED_MODULES = [
  'mpm_event',
  'authn_core',
  'authn_file',
  'authz_core',
  'authz_user',
  'auth_basic',
  'dav',
  'dav_fs',
  'dav_lock',
  // As Debian ships Apache: a folder's URL without its trailing slash is answered 301 to the slashed URL, for
  // every method (DirectorySlash On). The relay names folders without the slash and must follow that.
  'dir',
] as const;

/** Apache refuses to serve as root; when the tests run as root its workers run as this user. */
const RUN_USER = 'www-data';
const RUN_GROUP = 'www-data';

const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 15_000;
const POLL_MS = 25;

/** True when Apache httpd, its DAV modules and htpasswd are installed. */
export const apacheAvailable: boolean =
  existsSync(APACHE) &&
  HTPASSWD !== undefined &&
  REQUIRED_MODULES.every((m) => existsSync(join(MODULES, `mod_${m}.so`)));

/** One line of the access log (`LogFormat "%m\t%U\t%>s\t%B\t%{usec}t"`). */
export interface ApacheRequest {
  method: string;
  /** The decoded URL path, without the query string (`%U`). */
  path: string;
  status: number;
  /** Response body bytes, headers excluded (`%B`). */
  bytes: number;
  /** When Apache received the request, in microseconds since the epoch (`%{usec}t`). */
  receivedUs: number;
}

export interface ApachePeer {
  /** Base URL with a trailing slash: `http://127.0.0.1:PORT/`. */
  readonly url: string;
  readonly port: number;
  /** The document root on disk (the WebDAV collection `/`). */
  readonly root: string;
  readonly username: string;
  readonly password: string;
  /** Starts the server (no-op when running); resolves once the port accepts connections. */
  start(): Promise<void>;
  /** Stops the server (no-op when stopped); resolves once its processes are gone and the port is closed. */
  stop(): Promise<void>;
  readonly running: boolean;
  /** The daemon's parent process (its workers are its children), while it runs: for benchmarks' CPU figures. */
  readonly daemonPid: number | undefined;
  /**
   * Every request logged so far, in the order Apache received them (waits briefly for the log to settle). Apache
   * writes a line when a request completes, from whichever worker thread served it, so the file order is not
   * the request order: the lines are sorted by their receive time.
   */
  requests(): Promise<ApacheRequest[]>;
  /**
   * The document root as `relative path` (no leading slash, `/`-separated) → SHA-256 hex for files and `'dir'`
   * for folders, sorted by path. mod_dav_fs' `.DAV` property folders are ignored.
   */
  tree(): Promise<Map<string, string>>;
  /** Stops the server and removes its temporary folder. Idempotent. */
  close(): Promise<void>;
}

export interface ApacheOptions {
  username?: string;
  password?: string;
  /** More lines for httpd.conf, after the document root's section (e.g. a `<LocationMatch>` that refuses). */
  extraConfig?: string[];
}

/**
 * Servers not closed yet: on exit their daemons are killed and their folders removed, so a test that crashed or
 * forgot `close()` never leaves an Apache running behind it.
 */
const unclosed = new Set<ApacheServer>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const server of unclosed) server.abandon();
  });
}

/**
 * `server` as the relay's configuration names a peer: its URL and credentials, probed every second so that tests
 * and benchmarks see it come back quickly. `extra`: further peer settings (e.g. the node it belongs to).
 */
export function peerConfig(server: ApachePeer, name: string, extra: { node?: string } = {}) {
  return {
    name,
    ...extra,
    url: server.url,
    username: server.username,
    password: server.password,
    pingIntervalSeconds: 1,
  };
}

/** Starts a fresh Apache WebDAV server with Basic authentication on a free loopback port. */
export async function startApache(options: ApacheOptions = {}): Promise<ApachePeer> {
  if (!apacheAvailable) throw new Error(`Apache httpd with mod_dav is not installed (${APACHE})`);
  const base = await mkdtemp(join(tmpdir(), 'vfs-relay-apache-'));
  installExitHook();
  const server = new ApacheServer(
    base,
    options.username ?? 'relay',
    options.password ?? 'relay-secret-1',
    options.extraConfig ?? [],
  );
  unclosed.add(server);
  try {
    // mkdtemp makes the folder 0700: Apache's workers (www-data) must traverse it to reach the document root.
    await chmod(base, 0o755);
    await server.prepare();
    // Another process may grab the port between our probe and Apache's bind: pick a new one and retry.
    for (let attempt = 1; ; attempt++) {
      server.port = await freePort();
      await server.writeConfig();
      try {
        await server.start();
        return server;
      } catch (error) {
        if (attempt >= 3 || !/Address already in use|could not bind/i.test(String(error))) throw error;
      }
    }
  } catch (error) {
    await server.close();
    throw error;
  }
}

class ApacheServer implements ApachePeer {
  port = 0;
  readonly root: string;
  private readonly conf: string;
  private readonly pidFile: string;
  private readonly errorLog: string;
  private readonly accessLog: string;
  private readonly lockDir: string;
  private readonly runDir: string;
  private readonly passwordFile: string;
  private pid: number | undefined;
  private closing: Promise<void> | undefined;
  private transition: Promise<void> = Promise.resolve();

  constructor(
    private readonly base: string,
    readonly username: string,
    readonly password: string,
    private readonly extraConfig: string[],
  ) {
    this.root = join(base, 'htdocs');
    this.conf = join(base, 'httpd.conf');
    this.runDir = join(base, 'run');
    this.pidFile = join(this.runDir, 'httpd.pid');
    this.errorLog = join(base, 'logs', 'error.log');
    this.accessLog = join(base, 'logs', 'access.log');
    this.lockDir = join(base, 'lock');
    this.passwordFile = join(base, 'htpasswd');
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  get running(): boolean {
    return this.pid !== undefined;
  }

  get daemonPid(): number | undefined {
    return this.pid;
  }

  async prepare(): Promise<void> {
    for (const dir of [this.root, this.runDir, this.lockDir, join(this.base, 'logs')]) {
      await mkdir(dir, { recursive: true });
    }
    if (asRoot()) {
      // The workers write the documents and the lock database; the parent (root) opens logs and the pid file.
      const { uid, gid } = await runUser();
      await chown(this.root, uid, gid);
      await chown(this.lockDir, uid, gid);
    }
    await run(HTPASSWD!, ['-b', '-c', '-m', this.passwordFile, this.username, this.password]);
    await chmod(this.passwordFile, 0o644);
  }

  async writeConfig(): Promise<void> {
    const modules = REQUIRED_MODULES.map((m) => `LoadModule ${m}_module ${join(MODULES, `mod_${m}.so`)}`);
    const lines = [
      `ServerRoot "${this.base}"`,
      `DefaultRuntimeDir "${this.runDir}"`,
      `PidFile "${this.pidFile}"`,
      'ServerName 127.0.0.1',
      `Listen 127.0.0.1:${this.port}`,
      ...modules,
      ...(asRoot() ? [`User ${RUN_USER}`, `Group ${RUN_GROUP}`] : []),
      `ErrorLog "${this.errorLog}"`,
      'LogLevel warn',
      'LogFormat "%m\\t%U\\t%>s\\t%B\\t%{usec}t" relay',
      `CustomLog "${this.accessLog}" relay`,
      'Timeout 60',
      'KeepAlive On',
      'MaxKeepAliveRequests 0',
      'KeepAliveTimeout 15',
      'StartServers 1',
      'ServerLimit 6',
      'ThreadsPerChild 25',
      'MaxRequestWorkers 150',
      'MinSpareThreads 25',
      'MaxSpareThreads 150',
      'LimitRequestBody 0',
      'AddDefaultCharset off',
      'ServerTokens Prod',
      `DavLockDB "${join(this.lockDir, 'DavLock')}"`,
      `DocumentRoot "${this.root}"`,
      'DirectoryIndex index.html',
      '<Directory />',
      '  AllowOverride None',
      '  Require all denied',
      '</Directory>',
      `<Directory "${this.root}">`,
      '  Dav On',
      '  Options None',
      '  AllowOverride None',
      '  AuthType Basic',
      '  AuthName "vfs-relay test peer"',
      '  AuthBasicProvider file',
      `  AuthUserFile "${this.passwordFile}"`,
      '  Require valid-user',
      '</Directory>',
      ...this.extraConfig,
      '',
    ];
    await writeFile(this.conf, lines.join('\n'));
  }

  start(): Promise<void> {
    return this.serialise(() => this.doStart());
  }

  stop(): Promise<void> {
    return this.serialise(() => this.doStop());
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        await this.stop();
      } finally {
        unclosed.delete(this);
        await rm(this.base, { recursive: true, force: true });
      }
    })();
    return this.closing;
  }

  async requests(): Promise<ApacheRequest[]> {
    // Apache logs a request after sending its response: let the log settle before reading it.
    await settle(this.accessLog);
    let text: string;
    try {
      text = await readFile(this.accessLog, 'latin1');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const out: ApacheRequest[] = [];
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const [method, path, status, bytes, received, ...rest] = line.split('\t');
      if (method === undefined || path === undefined || bytes === undefined || received === undefined || rest.length) {
        throw new Error(`unexpected access log line: ${JSON.stringify(line)}`);
      }
      out.push({
        method,
        path: unescapeLogItem(path),
        status: Number(status),
        bytes: Number(bytes),
        receivedUs: Number(received),
      });
    }
    // Stable: requests received in the same microsecond keep their log order.
    return out.sort((a, b) => a.receivedUs - b.receivedUs);
  }

  async tree(): Promise<Map<string, string>> {
    const entries: [string, string][] = [];
    // The server may delete or move things while we look (tests poll during replay): what vanished is skipped.
    const gone = (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    };
    const walk = async (dir: string, rel: string): Promise<void> => {
      for (const item of (await readdir(dir, { withFileTypes: true }).catch(gone)) ?? []) {
        if (item.name === '.DAV') continue;
        const full = join(dir, item.name);
        const path = rel === '' ? item.name : `${rel}/${item.name}`;
        if (item.isDirectory()) {
          entries.push([path, 'dir']);
          await walk(full, path);
        } else {
          const content = await readFile(full).catch(gone);
          if (content) entries.push([path, createHash('sha256').update(content).digest('hex')]);
        }
      }
    };
    await walk(this.root, '');
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return new Map(entries);
  }

  /** Last resort on process exit (synchronous): SIGTERM the daemon we started, by pid, and drop the folder. */
  abandon(): void {
    if (this.pid !== undefined) {
      try {
        process.kill(this.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    try {
      rmSync(this.base, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }

  private serialise(task: () => Promise<void>): Promise<void> {
    const next = this.transition.then(task, task);
    this.transition = next.catch(() => undefined);
    return next;
  }

  private async doStart(): Promise<void> {
    if (this.pid !== undefined) return;
    if (this.closing) throw new Error('Apache peer is closed');
    try {
      // `-k start` daemonises: it returns once the parent has forked, or fails on a configuration error.
      await run(APACHE, ['-f', this.conf, '-k', 'start'], { timeout: START_TIMEOUT_MS, env: apacheEnv() });
    } catch (error) {
      throw new Error(`apache2 -k start failed: ${describeError(error)}\n${await this.errorTail()}`);
    }
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const pid = await readPid(this.pidFile);
      if (pid !== undefined && isAlive(pid)) {
        this.pid = pid;
        if (await accepts(this.port)) return;
      } else if (pid !== undefined) {
        break; // the daemon died after writing its pid (bind failure, bad module, ...)
      }
      if (Date.now() > deadline) break;
      await sleep(POLL_MS);
    }
    const tail = await this.errorTail();
    await this.doStop().catch(() => undefined);
    throw new Error(`Apache did not start on 127.0.0.1:${this.port} within ${START_TIMEOUT_MS} ms\n${tail}`);
  }

  private async doStop(): Promise<void> {
    const pid = this.pid ?? (await readPid(this.pidFile));
    if (pid === undefined || !isAlive(pid)) {
      this.pid = undefined;
      await rm(this.pidFile, { force: true });
      return;
    }
    // Apache's parent reaps its workers before it exits; remember them anyway, for the SIGKILL fallback.
    const children = childrenOf(pid);
    try {
      await run(APACHE, ['-f', this.conf, '-k', 'stop'], { timeout: STOP_TIMEOUT_MS, env: apacheEnv() });
    } catch {
      // Fall back to signalling the pid we know; the wait below decides.
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // gone
      }
    }
    const deadline = Date.now() + STOP_TIMEOUT_MS;
    const stopped = () => !isAlive(pid) && children.every((c) => !isAlive(c));
    while (!stopped()) {
      if (Date.now() > deadline) {
        for (const p of [pid, ...children]) {
          try {
            process.kill(p, 'SIGKILL');
          } catch {
            // gone
          }
        }
        await sleep(200);
        if (!stopped()) {
          throw new Error(`Apache (pid ${pid}) did not stop within ${STOP_TIMEOUT_MS} ms`);
        }
        break;
      }
      await sleep(POLL_MS);
    }
    await rm(this.pidFile, { force: true });
    this.pid = undefined;
    // The workers held the listening socket too; once they are gone the port refuses connections.
    if (await accepts(this.port))
      throw new Error(`Apache stopped, but 127.0.0.1:${this.port} still accepts connections`);
  }

  private async errorTail(): Promise<string> {
    try {
      const text = await readFile(this.errorLog, 'utf8');
      return text.split('\n').slice(-20).join('\n');
    } catch {
      return '(no error log)';
    }
  }
}

function asRoot(): boolean {
  return process.getuid?.() === 0;
}

async function runUser(): Promise<{ uid: number; gid: number }> {
  const { stdout: uid } = await run('id', ['-u', RUN_USER]);
  const { stdout: gid } = await run('id', ['-g', RUN_USER]);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}

/** A minimal environment: nothing from the caller's shell (APACHE_* variables, proxies) leaks into httpd. */
function apacheEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' };
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function readPid(file: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(file, 'utf8')).trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Alive and not a zombie (the daemon is reparented to PID 1, which may be slow to reap it). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return true;
  }
}

/** Direct children of `pid` (Apache's worker processes), from /proc. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** Waits until the file's size has not changed for a few polls (bounded). */
async function settle(file: string): Promise<void> {
  const deadline = Date.now() + 2000;
  let last = -1;
  let stable = 0;
  while (stable < 3 && Date.now() < deadline) {
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch {
      size = -1;
    }
    stable = size === last ? stable + 1 : 0;
    last = size;
    await sleep(20);
  }
}

/** Reverses `ap_escape_logitem`: `\xHH` bytes, `\"`, `\\` and C escapes; the bytes are UTF-8. */
function unescapeLogItem(item: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < item.length; i++) {
    const c = item.charCodeAt(i);
    if (item[i] === '\\' && i + 1 < item.length) {
      const next = item[i + 1]!;
      if (next === 'x' && /^[0-9a-fA-F]{2}$/.test(item.slice(i + 2, i + 4))) {
        bytes.push(Number.parseInt(item.slice(i + 2, i + 4), 16));
        i += 3;
        continue;
      }
      const simple: Record<string, number> = { '\\': 0x5c, '"': 0x22, t: 0x09, n: 0x0a, r: 0x0d, b: 0x08, v: 0x0b };
      if (simple[next] !== undefined) {
        bytes.push(simple[next]!);
        i += 1;
        continue;
      }
    }
    bytes.push(c & 0xff);
  }
  return Buffer.from(bytes).toString('utf8');
}

function describeError(error: unknown): string {
  const e = error as { message?: string; stderr?: string };
  const message = e.message ?? String(error);
  return e.stderr && !message.includes(e.stderr.trim()) ? `${message}\n${e.stderr}` : message;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The requests as the relay meant them: without those Apache redirected to the folder's URL with its slash (mod_dir:
 * the relay sends them again there), and a DELETE's or MOVE's folder named as the change names it (no slash).
 */
export async function appliedRequests(server: ApachePeer): Promise<ApacheRequest[]> {
  return (await server.requests())
    .filter((r) => r.status !== 301)
    .map((r) =>
      (r.method === 'DELETE' || r.method === 'MOVE') && r.path.endsWith('/') ? { ...r, path: r.path.slice(0, -1) } : r,
    );
}
