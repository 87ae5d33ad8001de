import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll } from 'vitest';
import { freePort } from './ports.js';

/**
 * moto_server (the moto S3/SQS emulator) on a loopback port, for integration tests. One server per test file is
 * plenty: every fixture gets a bucket of its own. moto keeps everything in memory, so stopping it cleans up.
 * The server stays in the test process' group (Ctrl-C reaches it) and is killed by its pid on close and on exit.
 * (A pyenv shim execs Python in place, so the pid is the server's own.)
 *
 * moto decides a conditional write (If-Match / If-None-Match) in two steps on a request thread, so two concurrent
 * writers of one key can both win; S3 decides it atomically, and the relay's shared state in S3 relies on that. The
 * server is therefore started through `moto-atomic.py` (moto's own server, conditional writes under one lock), with
 * the Python beside `moto_server`; where that Python cannot import moto, plain `moto_server` runs and a warning says
 * that tests of concurrent conditional writes may see moto's race (VFS_RELAY_TEST_PLAIN_MOTO=1 forces that, to compare).
 */

const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;
const POLL_MS = 50;

function onPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

const MOTO = onPath('moto_server');
const ATOMIC_LAUNCHER = fileURLToPath(new URL('./moto-atomic.py', import.meta.url));
/** The Python that runs moto_server (a pyenv shim or a venv keeps it beside the script), else the one on PATH. */
const PYTHON = MOTO && [join(dirname(MOTO), 'python3'), onPath('python3')].find((p) => p && isExecutable(p));
/** Cleared when the launcher cannot import moto: from then on plain moto_server is started. */
let atomicConditionalWrites = PYTHON !== undefined && !process.env.VFS_RELAY_TEST_PLAIN_MOTO;

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** True when `moto_server` is on PATH (pip install 'moto[server]'). */
export const motoAvailable: boolean = MOTO !== undefined;

export interface Moto {
  /** `http://127.0.0.1:PORT` */
  readonly endpoint: string;
  /** Stops the server (bounded: SIGTERM, then SIGKILL). Idempotent. */
  close(): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** A test that crashed or forgot close() must not leave a moto_server behind. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) stop(child, 'SIGKILL');
  });
}

function stop(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    child.kill(signal);
  } catch {
    // already gone
  }
}

/** Starts moto_server on a free loopback port and waits (bounded) until it answers HTTP. */
export async function startMoto(): Promise<Moto> {
  if (!MOTO) throw new Error('moto_server is not on PATH (pip install "moto[server]")');
  installExitHook();
  let lastError: unknown;
  // Another process may take the port between our probe and moto's bind: try a few ports.
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    try {
      return await launch(port);
    } catch (error) {
      lastError = error;
      if (atomicConditionalWrites && /No module named|ModuleNotFoundError|ImportError/.test(String(error))) {
        atomicConditionalWrites = false;
        console.warn(
          `moto: ${PYTHON} cannot import moto; starting plain moto_server, whose conditional writes are not atomic`,
        );
      }
    }
  }
  throw lastError;
}

async function launch(port: number): Promise<Moto> {
  const args = ['-H', '127.0.0.1', '-p', String(port)];
  const [command, argv] = atomicConditionalWrites ? [PYTHON!, [ATOMIC_LAUNCHER, ...args]] : [MOTO!, args];
  const child = spawn(command, argv, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  running.add(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      running.delete(child);
      resolve();
    });
  });
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const close = async () => {
    if (gone) return;
    stop(child, 'SIGTERM');
    const timer = setTimeout(() => stop(child, 'SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (gone) throw new Error(`moto_server exited during start-up:\n${stderr}`);
    try {
      const response = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1000) });
      await response.body?.cancel();
      if (response.status < 500) return { endpoint, close };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  await close();
  throw new Error(`moto_server did not answer on ${endpoint} within ${START_TIMEOUT_MS} ms:\n${stderr}`);
}

/** An S3 client for a moto endpoint: us-east-1, path-style addressing, dummy credentials. */
export function motoS3Client(endpoint: string): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
}

/**
 * moto_server and an S3 client on it for the surrounding suite: started before its first test, stopped after its
 * last. Read `client` and `endpoint` inside tests (they are set once the suite starts).
 */
export function useMotoS3(): { readonly client: S3Client; readonly endpoint: string } {
  let moto: Moto | undefined;
  let client: S3Client | undefined;
  beforeAll(async () => {
    moto = await startMoto();
    client = motoS3Client(moto.endpoint);
  });
  afterAll(async () => {
    client?.destroy();
    await moto?.close();
  });
  const started = () => {
    if (!moto || !client) throw new Error('useMotoS3: the suite has not started');
    return { moto, client };
  };
  return {
    get client() {
      return started().client;
    },
    get endpoint() {
      return started().moto.endpoint;
    },
  };
}

/** Creates a bucket with a fresh random name (S3 bucket names: 3–63 lowercase characters). */
export async function freshBucket(client: S3Client, prefix = 'vfs-relay'): Promise<string> {
  const bucket = `${prefix}-${randomBytes(6).toString('hex')}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}
