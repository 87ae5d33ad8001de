import { readFileSync, readlinkSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';

/** Who holds a lock, written into the lock file: for the message a second starter prints, and for the fallback. */
export interface LockStamp {
  pid: number;
  host: string;
  startedAt: string;
  /** Linux: the kernel's boot id (the same in every container of one machine, new at every boot). */
  bootId?: string;
  /** Linux: the pid namespace (`pid:[4026531836]`): two containers usually have two, both with a PID 1. */
  pidNamespace?: string;
  /** Linux: when the process started, in clock ticks since boot (/proc/<pid>/stat field 22). */
  startTicks?: string;
}

const startedAt = new Date().toISOString();

export function ownStamp(): LockStamp {
  return {
    pid: process.pid,
    host: hostname(),
    startedAt,
    bootId: readProc('/proc/sys/kernel/random/boot_id'),
    pidNamespace: linkProc('/proc/self/ns/pid'),
    startTicks: startTicksOf(process.pid),
  };
}

/** What a process looks like from here: whether a pid is in use, and since when (Linux). */
export interface ProcessProbe {
  alive(pid: number): boolean;
  startTicks(pid: number): string | undefined;
}

export const systemProbe: ProcessProbe = {
  alive(pid) {
    try {
      process.kill(pid, 0);
      return true;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'EPERM';
    }
  },
  startTicks: startTicksOf,
};

/**
 * Whether the holder named by `stamp` still runs, judged from `self`. A pid alone proves nothing: in containers
 * every relay is PID 1, so the same pid must also have the same start time, boot and pid namespace. 'unknown'
 * when this process cannot see the holder's processes (another pid namespace, another host).
 */
export function holderState(
  stamp: Partial<LockStamp>,
  self: LockStamp,
  probe: ProcessProbe = systemProbe,
): 'alive' | 'dead' | 'unknown' {
  if (!stamp.pid) return 'dead'; // empty or unreadable: the writer died before finishing it
  if (stamp.host === undefined) {
    // A lock file of an older version (the pid alone): as that version judged it.
    return stamp.pid !== self.pid && probe.alive(stamp.pid) ? 'alive' : 'dead';
  }
  const sameKernel = stamp.bootId !== undefined && stamp.bootId === self.bootId;
  if (stamp.host !== self.host && !sameKernel) return 'unknown';
  // Same machine, booted since: whatever held it is gone.
  if (stamp.bootId !== undefined && self.bootId !== undefined && !sameKernel) return 'dead';
  if (stamp.pidNamespace !== self.pidNamespace) return 'unknown';
  if (!probe.alive(stamp.pid)) return 'dead';
  if (stamp.startTicks === undefined || self.startTicks === undefined) return 'alive';
  return probe.startTicks(stamp.pid) === stamp.startTicks ? 'alive' : 'dead';
}

export async function readStamp(file: string): Promise<Partial<LockStamp> | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  try {
    return JSON.parse(text) as Partial<LockStamp>;
  } catch {
    // A lock file of an older version holds just the pid.
    const pid = Number.parseInt(text, 10);
    return Number.isInteger(pid) && pid > 0 ? { pid } : undefined;
  }
}

/** "process 1 on relay-7f3a (started …)", or "another process" when the stamp is not written yet. */
export function describeHolder(stamp: Partial<LockStamp> | undefined): string {
  if (!stamp?.pid) return 'another process';
  const host = stamp.host ? ` on ${stamp.host}` : '';
  const since = stamp.startedAt ? ` (started ${stamp.startedAt})` : '';
  return `process ${stamp.pid}${host}${since}`;
}

function startTicksOf(pid: number): string | undefined {
  const stat = readProc(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  // The command name (field 2) may hold spaces and parentheses: count fields after its closing parenthesis.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function linkProc(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}
