import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { platform } from 'node:os';
import type { Readable, Writable } from 'node:stream';

/** Reads a line per request and answers with `sync -f`'s exit status; `$0` is the path (never part of the script). */
const LOOP = 'while IFS= read -r _; do sync -f -- "$0"; echo $?; done';

export interface FileSystemSyncOptions {
  /** A sync that has not answered by then counts as failed, and its helper is replaced (default 120 s). */
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
 * 0.3 ms. The shell ends when the relay closes it or exits (its input closes), and is started again after it died.
 *
 * `sync()` resolves false when this is not available (not Linux, no shell or coreutils, the call failed or timed
 * out): the caller then fsyncs file by file.
 */
export class FileSystemSync {
  private helper: SyncHelper | undefined;

  constructor(
    readonly path: string,
    private readonly options: FileSystemSyncOptions = {},
  ) {}

  sync(): Promise<boolean> {
    if (platform() !== 'linux') return Promise.resolve(false);
    if (!this.helper || this.helper.dead) {
      this.helper = new SyncHelper(this.path, this.options.script ?? LOOP, this.options.timeoutMs ?? 120_000);
    }
    return this.helper.ask();
  }

  /** Ends the shell (syncs still waiting resolve false). */
  close(): void {
    this.helper?.stop();
    this.helper = undefined;
  }

  /** The shell's process id while it runs (tests). */
  get helperPid(): number | undefined {
    return this.helper?.dead === false ? this.helper.pid : undefined;
  }
}

class SyncHelper {
  dead = false;
  private readonly child: ChildProcessByStdio<Writable, Readable, null>;
  /** Requests in the order they were written; the shell answers them in that order. */
  private readonly waiting: { resolve: (ok: boolean) => void; timer: NodeJS.Timeout }[] = [];
  private output = '';

  constructor(
    path: string,
    script: string,
    private readonly timeoutMs: number,
  ) {
    this.child = spawn('sh', ['-c', script, path], { stdio: ['pipe', 'pipe', 'ignore'], windowsHide: true });
    const fail = () => this.stop();
    this.child.on('error', fail); // no shell
    this.child.on('exit', fail);
    this.child.stdin.on('error', fail); // it died with a request on its way
    this.child.stdout.setEncoding('latin1');
    this.child.stdout.on('data', (chunk: string) => this.read(chunk));
    this.child.unref();
    this.holdLoop(false);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  ask(): Promise<boolean> {
    if (this.dead) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.stop(), this.timeoutMs);
      this.waiting.push({ resolve, timer });
      this.holdLoop(true);
      this.child.stdin.write('\n');
    });
  }

  /** Ends the shell; whatever waits resolves false. */
  stop(): void {
    if (this.dead) return;
    this.dead = true;
    for (const { resolve, timer } of this.waiting.splice(0)) {
      clearTimeout(timer);
      resolve(false);
    }
    this.child.stdin.end();
    // A shell that does not answer (a sync stuck on a dead disk) is not waited for.
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    this.holdLoop(false);
  }

  private read(chunk: string): void {
    this.output += chunk;
    for (let end = this.output.indexOf('\n'); end >= 0; end = this.output.indexOf('\n')) {
      const status = this.output.slice(0, end);
      this.output = this.output.slice(end + 1);
      const request = this.waiting.shift();
      if (!request) continue;
      clearTimeout(request.timer);
      request.resolve(status === '0');
    }
    if (this.waiting.length === 0) this.holdLoop(false);
  }

  /** While a sync is awaited, the shell's output keeps the process alive; otherwise the shell never does. */
  private holdLoop(hold: boolean): void {
    for (const stream of [this.child.stdin, this.child.stdout] as unknown as { ref(): void; unref(): void }[]) {
      if (hold) stream.ref?.();
      else stream.unref?.();
    }
  }
}
