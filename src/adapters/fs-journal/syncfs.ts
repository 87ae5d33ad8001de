import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { platform } from 'node:os';
import type { Readable, Writable } from 'node:stream';

/**
 * Reads a line per request and answers with `sync -f`'s exit status; `$0` is the path (never part of the script).
 * Signals meant for the relay (Ctrl-C, a service manager's SIGTERM) do not end it: it ends when its input closes.
 */
const LOOP = `trap '' INT TERM HUP; while IFS= read -r _; do sync -f -- "$0" </dev/null; echo $?; done`;

export interface FileSystemSyncOptions {
  /** A sync that has not answered this long after it was asked of the shell fails, and the shell is replaced. */
  timeoutMs?: number;
  /** The helper's shell script (tests); `$0` is the path. */
  script?: string;
}

/**
 * syncfs(2) for the file system holding `path`: one call makes everything written to it durable, including renames
 * and removals. Node has no binding for it, so coreutils' `sync -f` does it. A checkpoint that touched thousands of
 * files costs one such call instead of thousands of fsyncs (each a thread-pool round trip and a journal commit).
 *
 * `sync -f` is run by one small shell kept for the purpose, not spawned by the relay each time: spawning forks the
 * relay, which copies its page tables with the event loop blocked — measured 7.5 ms of CPU per call at 140 MiB
 * resident and 21 ms at 1 GiB (a large backlog in memory), once a second under steady ingest; through the shell,
 * 0.3 ms. The shell runs in a process group of its own, ends when the relay closes it or exits (its input closes),
 * and is started again after it died.
 *
 * `sync()` resolves false when this is not available (not Linux, no shell or coreutils, the call failed or timed
 * out, or this was closed): the caller then fsyncs file by file.
 */
export class FileSystemSync {
  private helper: SyncHelper | undefined;
  private closed = false;

  constructor(
    readonly path: string,
    private readonly options: FileSystemSyncOptions = {},
  ) {}

  async sync(): Promise<boolean> {
    if (platform() !== 'linux' || this.closed) return false;
    const answer = await this.ask();
    // A shell that died before answering (killed with the relay's process group, say) is not a verdict on syncfs:
    // once more, with a new one.
    if (answer === 'gone' && !this.closed) return (await this.ask()) === 'synced';
    return answer === 'synced';
  }

  /** Ends the shell; syncs still waiting, and any asked later, resolve false. */
  close(): void {
    this.closed = true;
    this.helper?.stop('gone');
    this.helper = undefined;
  }

  /** The shell's process id while it runs (tests). */
  get helperPid(): number | undefined {
    return this.helper?.dead === false ? this.helper.pid : undefined;
  }

  private ask(): Promise<Answer> {
    if (!this.helper || this.helper.dead) {
      try {
        this.helper = new SyncHelper(this.path, this.options.script ?? LOOP, this.options.timeoutMs ?? 120_000);
      } catch {
        return Promise.resolve('failed'); // no process could be started (out of memory or descriptors)
      }
    }
    return this.helper.ask();
  }
}

/** `synced`: `sync -f` exited 0. `failed`: it did not, or timed out. `gone`: the shell died before answering. */
type Answer = 'synced' | 'failed' | 'gone';

class SyncHelper {
  dead = false;
  private readonly child: ChildProcessByStdio<Writable, Readable, null>;
  /** Requests in the order they were written; the shell answers them in that order. */
  private readonly waiting: ((answer: Answer) => void)[] = [];
  /** The time limit of the request the shell is working on (the first waiting). */
  private timer: NodeJS.Timeout | undefined;
  private output = '';

  constructor(
    path: string,
    script: string,
    private readonly timeoutMs: number,
  ) {
    // detached: a process group of its own, out of reach of signals sent to the relay's.
    this.child = spawn('/bin/sh', ['-c', script, path], {
      stdio: ['pipe', 'pipe', 'ignore'],
      detached: true,
      windowsHide: true,
    });
    if (!this.child.stdin || !this.child.stdout) {
      this.child.kill('SIGKILL');
      throw new Error('the shell started without its pipes');
    }
    const gone = () => this.stop('gone');
    this.child.on('error', gone); // no shell
    this.child.on('exit', gone);
    this.child.stdin.on('error', gone); // it died with a request on its way
    this.child.stdout.on('error', gone);
    this.child.stdout.setEncoding('latin1');
    this.child.stdout.on('data', (chunk: string) => this.read(chunk));
    this.child.unref();
    this.holdLoop(false);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  ask(): Promise<Answer> {
    if (this.dead) return Promise.resolve('gone');
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      if (this.waiting.length === 1) this.startTimer();
      this.holdLoop(true);
      this.child.stdin.write('\n');
    });
  }

  /** Ends the shell (and the `sync` it runs); whatever waits gets `answer`. */
  stop(answer: Answer): void {
    if (this.dead) return;
    this.dead = true;
    clearTimeout(this.timer);
    for (const resolve of this.waiting.splice(0)) resolve(answer);
    this.child.stdin.end();
    if (this.child.exitCode === null && this.child.signalCode === null && this.child.pid !== undefined) {
      try {
        process.kill(-this.child.pid, 'SIGKILL'); // its group: a sync stuck on a dead disk is not waited for
      } catch {
        // gone already
      }
    }
    this.holdLoop(false);
  }

  private startTimer(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.stop('failed'), this.timeoutMs);
  }

  private read(chunk: string): void {
    this.output += chunk;
    for (let end = this.output.indexOf('\n'); end >= 0; end = this.output.indexOf('\n')) {
      const status = this.output.slice(0, end);
      this.output = this.output.slice(end + 1);
      const resolve = this.waiting.shift();
      if (!resolve) continue;
      resolve(status === '0' ? 'synced' : 'failed');
      if (this.waiting.length > 0) this.startTimer();
    }
    if (this.waiting.length === 0) {
      clearTimeout(this.timer);
      this.holdLoop(false);
    }
  }

  /** While a sync is awaited, the shell's output keeps the process alive; otherwise the shell never does. */
  private holdLoop(hold: boolean): void {
    for (const stream of [this.child.stdin, this.child.stdout] as unknown as { ref(): void; unref(): void }[]) {
      if (hold) stream.ref?.();
      else stream.unref?.();
    }
  }
}
