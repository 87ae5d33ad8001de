// CPU time from Linux's /proc, for the benchmarks' per-change figures (user + system, in seconds; USER_HZ = 100,
// so 10 ms resolution: figures are taken over whole phases of thousands of requests).
import { spawn } from 'node:child_process';
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

/** Fields of a /proc/<pid>/stat line after the command name: index 0 is field 3 (state). */
function statFields(file: string): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined; // exited meanwhile
  }
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** utime + stime of a process (every thread it has or had), or of one thread (/proc/<pid>/task/<tid>/stat). */
function ownTicks(fields: string[]): number {
  return Number(fields[11]) + Number(fields[12]);
}

/** CPU time a process has used so far, all its threads together. */
export function processCpu(pid: number): number {
  const fields = statFields(`/proc/${pid}/stat`);
  if (!fields) throw new Error(`no process ${pid}`);
  return ownTicks(fields) / TICKS_PER_SECOND;
}

/** CPU time of each live thread of a process, by `name#tid` (the main thread's tid is the pid). */
export function threadCpu(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    const fields = statFields(`/proc/${pid}/task/${tid}/stat`);
    if (!fields) continue;
    let name = '?';
    try {
      name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
    } catch {
      // exited meanwhile
    }
    out.set(`${Number(tid) === pid ? 'main' : name}#${tid}`, ownTicks(fields) / TICKS_PER_SECOND);
  }
  return out;
}

/** CPU time of the main thread alone (its tid is the pid). */
export function mainThreadCpu(pid: number): number {
  const fields = statFields(`/proc/${pid}/task/${pid}/stat`);
  if (!fields) throw new Error(`no process ${pid}`);
  return ownTicks(fields) / TICKS_PER_SECOND;
}

/**
 * CPU time of a process and its children: its own, what its children that ended and were reaped used (cutime +
 * cstime), and what its live children used so far. Differences between two calls count a child that ended in
 * between once (its time moves from "live" to "reaped"). For Apache: the parent and its workers.
 */
export function processTreeCpu(pid: number): number {
  const fields = statFields(`/proc/${pid}/stat`);
  if (!fields) throw new Error(`no process ${pid}`);
  let ticks = ownTicks(fields) + Number(fields[13]) + Number(fields[14]);
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const child = statFields(`/proc/${name}/stat`);
    if (child && Number(child[1]) === pid) ticks += ownTicks(child) + Number(child[13]) + Number(child[14]);
  }
  return ticks / TICKS_PER_SECOND;
}

/** This process's CPU time (all threads). */
export function ownCpu(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** Per-thread CPU used between two `threadCpu` samples, busiest first, as `name 0.42 s` items. */
export function threadDelta(before: Map<string, number>, after: Map<string, number>): string {
  const rows: [string, number][] = [];
  for (const [thread, seconds] of after) {
    const used = seconds - (before.get(thread) ?? 0);
    if (used >= 0.01) rows.push([thread.replace(/#\d+$/, ''), used]);
  }
  return rows
    .sort((a, b) => b[1] - a[1])
    .map(([name, used]) => `${name} ${used.toFixed(2)}`)
    .join(', ');
}

/**
 * VFS_RELAY_PERF=<dir>: records `perf record -g` of process `pid` (CPU samples only, unlike a V8 profile, whose
 * samples carry wall-clock time: on a loaded machine those mostly measure waiting) into `<dir>/<name>.perf.data`
 * until the returned function is called. The child runs with --perf-basic-prof (see spawnTs), so JavaScript
 * frames have names: `perf report -i <file> --no-children --sort sym`. No-op without the variable.
 */
export function recordPerf(pid: number, name: string): () => Promise<void> {
  const dir = process.env.VFS_RELAY_PERF;
  if (!dir) return async () => {};
  const perf = spawn('perf', ['record', '-F', '999', '-g', '-p', String(pid), '-o', `${dir}/${name}.perf.data`], {
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolve) => perf.once('exit', () => resolve()));
  perf.once('error', () => {}); // no perf installed: nothing recorded
  return async () => {
    perf.kill('SIGINT');
    await exited;
  };
}

/**
 * With VFS_RELAY_CHILD_STDOUT set, marks a phase in that file, so that what V8 printed can be placed in it; the
 * monotonic clock in microseconds is the one CPU profiles' timestamps (VFS_RELAY_CPU_PROF) count on.
 */
export function markChildOutput(what: string) {
  if (process.env.VFS_RELAY_CHILD_STDOUT)
    appendFileSync(
      process.env.VFS_RELAY_CHILD_STDOUT,
      `${Date.now()} bench ==== ${what} (monotonic ${process.hrtime.bigint() / 1000n} µs)\n`,
    );
}
