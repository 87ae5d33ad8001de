import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.js';

/**
 * WebDAV servers other than Apache, from Debian's packages, each started on a loopback port with its own folder:
 * nginx with its DAV modules (`nginx-extras`: `ngx_http_dav_module` and `libnginx-mod-http-dav-ext` for PROPFIND)
 * and rclone (`rclone serve webdav`, golang.org/x/net/webdav). Users run the relay against these too, and each
 * answers some requests differently from mod_dav (webdav-interop.test.ts).
 */
export interface DavServer {
  kind: 'nginx' | 'rclone';
  url: string;
  /** The folder the server serves. */
  root: string;
  username: string;
  password: string;
  /** What the served folder holds: relative path → 'dir' or the file's contents. */
  tree(): Promise<Map<string, string>>;
  close(): Promise<void>;
}

const NGINX = '/usr/sbin/nginx';
const NGINX_DAV_EXT = '/usr/lib/nginx/modules/ngx_http_dav_ext_module.so';
const RCLONE = '/usr/bin/rclone';
const HTPASSWD = ['/usr/bin/htpasswd', '/usr/sbin/htpasswd'].find((p) => existsSync(p));

export const nginxAvailable = existsSync(NGINX) && existsSync(NGINX_DAV_EXT) && HTPASSWD !== undefined;
export const rcloneAvailable = existsSync(RCLONE);

const START_TIMEOUT_MS = 15_000;
const run = promisify(execFile);

export async function startNginxDav(): Promise<DavServer> {
  const base = await mkdtemp(join(tmpdir(), 'vfs-relay-nginx-'));
  try {
    return await startNginxIn(base);
  } catch (error) {
    await rm(base, { recursive: true, force: true });
    throw error;
  }
}

async function startNginxIn(base: string): Promise<DavServer> {
  const root = join(base, 'root');
  const temp = join(base, 'tmp');
  await mkdir(root);
  await mkdir(temp);
  const username = 'replicator';
  const password = 'nginx-dav-password';
  await run(HTPASSWD!, ['-b', '-c', '-B', join(base, 'htpasswd'), username, password]);
  await chmod(join(base, 'htpasswd'), 0o644);
  await chmod(base, 0o755);
  const root0 = process.getuid?.() === 0;
  if (root0) {
    // The workers (www-data) write the documents and nginx's temporary bodies.
    const { stdout } = await run('id', ['-u', 'www-data']);
    const { stdout: group } = await run('id', ['-g', 'www-data']);
    for (const dir of [root, temp]) await chown(dir, Number(stdout.trim()), Number(group.trim()));
  }
  const port = await freePort();
  const conf = join(base, 'nginx.conf');
  await writeFile(
    conf,
    [
      `load_module ${NGINX_DAV_EXT};`,
      'worker_processes 1;',
      'daemon off;',
      `pid ${join(base, 'nginx.pid')};`,
      `error_log ${join(base, 'error.log')} warn;`,
      ...(root0 ? ['user www-data;'] : []),
      'events { worker_connections 256; }',
      'http {',
      `  access_log ${join(base, 'access.log')};`,
      `  client_body_temp_path ${temp};`,
      '  client_max_body_size 0;',
      '  server {',
      `    listen 127.0.0.1:${port};`,
      `    root ${root};`,
      '    location / {',
      '      auth_basic "dav";',
      `      auth_basic_user_file ${join(base, 'htpasswd')};`,
      '      dav_methods PUT DELETE MKCOL COPY MOVE;',
      '      dav_ext_methods PROPFIND OPTIONS;',
      '      dav_access user:rw group:rw all:r;',
      '      create_full_put_path off;',
      '    }',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  const child = spawn(NGINX, ['-c', conf, '-p', base], { stdio: ['ignore', 'ignore', 'pipe'] });
  return running('nginx', child, port, base, root, username, password, async () =>
    readFile(join(base, 'error.log'), 'utf8').catch(() => ''),
  );
}

export async function startRcloneDav(): Promise<DavServer> {
  const base = await mkdtemp(join(tmpdir(), 'vfs-relay-rclone-'));
  const root = join(base, 'root');
  await mkdir(root);
  const username = 'replicator';
  const password = 'rclone-dav-password';
  const port = await freePort();
  const child = spawn(
    RCLONE,
    ['serve', 'webdav', root, '--addr', `127.0.0.1:${port}`, '--user', username, '--pass', password],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, RCLONE_CONFIG: join(base, 'rclone.conf') } },
  );
  return running('rclone', child, port, base, root, username, password, async () => '');
}

async function running(
  kind: DavServer['kind'],
  child: ChildProcess,
  port: number,
  base: string,
  root: string,
  username: string,
  password: string,
  log: () => Promise<string>,
): Promise<DavServer> {
  let stderr = '';
  let failed: Error | undefined;
  child.once('error', (error) => {
    failed = error; // could not be started at all (ENOENT, EACCES): the wait below ends with it
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await rm(base, { recursive: true, force: true });
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await listening(port))) {
    if (failed || child.exitCode !== null || Date.now() > deadline) {
      await close();
      throw new Error(`${kind} did not start on 127.0.0.1:${port}: ${failed?.message ?? ''}${stderr}${await log()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { kind, url: `http://127.0.0.1:${port}/`, root, username, password, tree: () => treeOf(root), close };
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function treeOf(root: string, rel = ''): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const item of await readdir(join(root, rel), { withFileTypes: true })) {
    const path = rel ? `${rel}/${item.name}` : item.name;
    if (item.isDirectory()) {
      out.set(path, 'dir');
      for (const [p, v] of await treeOf(root, path)) out.set(p, v);
    } else if ((await stat(join(root, path))).isFile()) {
      out.set(path, await readFile(join(root, path), 'utf8'));
    }
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
