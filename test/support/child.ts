import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const bundles = new Map<string, Promise<string>>();
/**
 * Modules the relay starts as worker threads: each bundle gets them beside it as `<name>.mjs`, where the code
 * looks for them (see startModuleThread).
 */
const THREAD_MODULES = {
  'janitor-thread': fileURLToPath(new URL('../../src/adapters/fs-journal/janitor-thread.ts', import.meta.url)),
};
let bundleDir: string | undefined;

/**
 * Bundles a TypeScript entry point once per test process (esbuild, ~100 ms) so that children start in a fraction
 * of the time a TypeScript loader needs: crash tests start dozens of them.
 */
export function bundle(script: string): Promise<string> {
  let built = bundles.get(script);
  if (!built) {
    // Inside the repository so that bare imports (packages stay external) resolve from node_modules.
    const cache = fileURLToPath(new URL('../../node_modules/.cache/', import.meta.url));
    mkdirSync(cache, { recursive: true });
    bundleDir ??= mkdtempSync(join(cache, 'child-'));
    // A folder per entry point: with code splitting, a dynamic import stays lazy (the CLI loads each command's
    // code, and the AWS SDK, only when it runs), as in the built package.
    const outdir = join(bundleDir, `${basename(script, '.ts')}-${bundles.size}`);
    built = build({
      entryPoints: { [basename(script, '.ts')]: script, ...THREAD_MODULES },
      outdir,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      splitting: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      sourcemap: 'inline',
      logLevel: 'silent',
    }).then(() => join(outdir, `${basename(script, '.ts')}.mjs`));
    bundles.set(script, built);
  }
  return built;
}

export interface Child {
  process: ChildProcess;
  /** What the child printed after READY (e.g. its URL). */
  ready: string;
  /** Resolves with the exit code or signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
  /** The lines it printed after READY (kept whole: children print little there). */
  stdout(): string;
}

/** Runs a TypeScript file in a child Node process and waits (bounded) for it to print `READY …`. */
export async function spawnTs(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 20_000,
): Promise<Child> {
  // VFS_RELAY_CPU_PROF=<dir>: every child writes a V8 CPU profile there on exit (benchmarks' hot spots).
  const profile = process.env.VFS_RELAY_CPU_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.VFS_RELAY_CPU_PROF}`]
    : [];
  // VFS_RELAY_PERF=<dir>: the benchmarks record `perf` profiles of children; JavaScript frames need a symbol map.
  if (process.env.VFS_RELAY_PERF) profile.push('--perf-basic-prof');
  // VFS_RELAY_NODE_FLAGS="--trace-gc …": more Node/V8 flags for every child (profiling a benchmark).
  if (process.env.VFS_RELAY_NODE_FLAGS) profile.push(...process.env.VFS_RELAY_NODE_FLAGS.split(/\s+/).filter(Boolean));
  const child = spawn(process.execPath, [...profile, '--enable-source-maps', await bundle(script), ...args], {
    // The child's stdin is a pipe from this process: when the test runner dies (killed, timed out), the pipe
    // closes and the child exits (child-main.ts) instead of living on as an orphan that eats the machine's CPU.
    env: { ...process.env, ...env, VFS_RELAY_TEST_PARENT_PIPE: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-20_000);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const lines = createInterface({ input: child.stdout! });
  let stdout = '';
  let seenReady = false;
  lines.on('line', (line) => {
    // VFS_RELAY_CHILD_STDOUT=<file>: every child's output is appended there too (e.g. what --trace-gc prints).
    if (process.env.VFS_RELAY_CHILD_STDOUT)
      appendFileSync(process.env.VFS_RELAY_CHILD_STDOUT, `${Date.now()} ${child.pid} ${line}\n`);
    if (seenReady) stdout += `${line}\n`;
    else seenReady = line.startsWith('READY');
  });
  const ready = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child ${script} not ready after ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    lines.on('line', (line) => {
      if (line.startsWith('READY')) {
        clearTimeout(timer);
        resolve(line.slice(6).trim());
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`child ${script} exited (${code ?? signal}) before READY: ${stderr}`));
    });
  });
  return { process: child, ready, exited, stderr: () => stderr, stdout: () => stdout };
}
