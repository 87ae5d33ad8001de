import { dirname } from 'node:path';

/**
 * Tells when a file was written and closed by everyone who opened it, from Linux's inotify (`IN_OPEN`,
 * `IN_CLOSE_WRITE`, `IN_CLOSE_NOWRITE`; inotify(7)) — the signal a file server gives when an upload ends. Node's
 * fs.watch does not report closes, so inotify is reached through koffi (a maintained FFI module with prebuilt
 * binaries, an optional dependency): where it is missing, or on another OS, there is no signal and the agent
 * waits for a file to hold still instead (StabilityTracker), as it always did.
 *
 * A folder is watched from the first file tracked in it and for LINGER_MS after the last; only files created while
 * it was watched are judged (their every open was seen, so `opens === closes` means nobody holds them open).
 * Events are read without blocking whenever the tracker asks, from a non-blocking inotify descriptor: no thread
 * and no timer of its own.
 */
export interface CloseSignal {
  /** Starts (or keeps) watching the folder of `file` (absolute); remember to `release` it. */
  retain(file: string): void;
  /** The file is not tracked any more; its folder's watch ends LINGER_MS after its last file. */
  release(file: string): void;
  /**
   * True when `file` (absolute) was created while its folder was watched, was closed after writing, and no one
   * holds it open now. False when that is not known (the caller then waits for it to hold still).
   */
  closedAfterWrite(file: string): boolean;
  close(): void;
}

const IN_CLOSE_WRITE = 0x008;
const IN_CLOSE_NOWRITE = 0x010;
const IN_OPEN = 0x020;
const IN_MOVED_FROM = 0x040;
const IN_CREATE = 0x100;
const IN_DELETE = 0x200;
const IN_Q_OVERFLOW = 0x4000;
const IN_IGNORED = 0x8000;
const IN_ONLYDIR = 0x01000000;
const IN_NONBLOCK = 0o4000;
const IN_CLOEXEC = 0o2000000;
const EAGAIN = 11;
/** A folder's watch outlives its last tracked file by this much: the next file there then finds it in place. */
const LINGER_MS = 30_000;
/** Counts of files no one asked about for this long are dropped (files opened in a watched folder, never tracked). */
const FORGET_MS = 60_000;

interface FolderWatch {
  wd: number;
  files: number;
  idleSince: number | undefined;
}

interface FileCounts {
  /** Created while watched: every open of it was seen (one born before the watch may be open unseen). */
  created: boolean;
  opens: number;
  closes: number;
  wroteAndClosed: boolean;
  at: number;
}

interface Libc {
  init(flags: number): number;
  addWatch(fd: number, path: string, mask: number): number;
  rmWatch(fd: number, wd: number): number;
  read(fd: number, buffer: Buffer, size: number): number;
  close(fd: number): number;
  errno(): number;
}

/** The close signal of this host, or undefined where there is none (not Linux, koffi missing or not loadable). */
export async function closeSignal(onError: (error: unknown) => void = () => {}): Promise<CloseSignal | undefined> {
  if (process.platform !== 'linux') return undefined;
  const libc = await loadLibc().catch(() => undefined);
  if (!libc) return undefined;
  const fd = libc.init(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return undefined;
  return new InotifyCloseSignal(libc, fd, onError);
}

async function loadLibc(): Promise<Libc> {
  const koffi = (await import('koffi')).default;
  const lib = koffi.load('libc.so.6');
  const init = lib.func('int inotify_init1(int flags)');
  const addWatch = lib.func('int inotify_add_watch(int fd, const char *path, uint32_t mask)');
  const rmWatch = lib.func('int inotify_rm_watch(int fd, int wd)');
  const read = lib.func('long read(int fd, _Out_ uint8_t *buf, unsigned long count)');
  const close = lib.func('int close(int fd)');
  return {
    init: (flags) => init(flags) as number,
    addWatch: (fd, path, mask) => addWatch(fd, path, mask) as number,
    rmWatch: (fd, wd) => rmWatch(fd, wd) as number,
    read: (fd, buffer, size) => Number(read(fd, buffer, size)),
    close: (fd) => close(fd) as number,
    errno: () => koffi.errno(),
  };
}

class InotifyCloseSignal implements CloseSignal {
  private readonly folders = new Map<string, FolderWatch>();
  private readonly byWd = new Map<number, string>();
  private readonly counts = new Map<string, FileCounts>();
  private readonly buffer = Buffer.alloc(64 * 1024);
  private closed = false;

  constructor(
    private readonly libc: Libc,
    private readonly fd: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  retain(file: string): void {
    if (this.closed) return;
    const dir = dirname(file);
    let watch = this.folders.get(dir);
    if (!watch) {
      const mask = IN_CREATE | IN_OPEN | IN_CLOSE_WRITE | IN_CLOSE_NOWRITE | IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR;
      const wd = this.libc.addWatch(this.fd, dir, mask);
      if (wd < 0) return; // gone, not allowed, or out of watches: the wait for stillness covers it
      watch = { wd, files: 0, idleSince: undefined };
      this.folders.set(dir, watch);
      this.byWd.set(wd, dir);
    }
    watch.files += 1;
    watch.idleSince = undefined;
  }

  release(file: string): void {
    const watch = this.folders.get(dirname(file));
    if (!watch || watch.files === 0) return;
    watch.files -= 1;
    if (watch.files === 0) watch.idleSince = Date.now();
    this.counts.delete(file);
  }

  closedAfterWrite(file: string): boolean {
    if (this.closed) return false;
    this.drain();
    const counts = this.counts.get(file);
    return counts?.created === true && counts.wroteAndClosed && counts.closes >= counts.opens;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.libc.close(this.fd);
    this.folders.clear();
    this.byWd.clear();
    this.counts.clear();
  }

  /** Reads every event queued so far (never blocks), then ends the watches of folders idle for LINGER_MS. */
  private drain(): void {
    for (;;) {
      const n = this.libc.read(this.fd, this.buffer, this.buffer.length);
      if (n < 0) {
        const errno = this.libc.errno();
        if (errno !== EAGAIN) this.onError(new Error(`reading inotify events failed (errno ${errno})`));
        break;
      }
      if (n === 0) break;
      this.parse(n);
    }
    const now = Date.now();
    for (const [dir, watch] of this.folders) {
      if (watch.idleSince === undefined || now - watch.idleSince < LINGER_MS) continue;
      this.libc.rmWatch(this.fd, watch.wd);
      this.folders.delete(dir);
      this.byWd.delete(watch.wd);
    }
    for (const [file, counts] of this.counts) if (now - counts.at > FORGET_MS) this.counts.delete(file);
  }

  /** `struct inotify_event { int wd; uint32_t mask, cookie, len; char name[len]; }`, back to back. */
  private parse(size: number): void {
    const now = Date.now();
    for (let at = 0; at + 16 <= size; ) {
      const wd = this.buffer.readInt32LE(at);
      const mask = this.buffer.readUInt32LE(at + 4);
      const len = this.buffer.readUInt32LE(at + 12);
      const raw = this.buffer.subarray(at + 16, at + 16 + len);
      const end = raw.indexOf(0);
      const name = (end === -1 ? raw : raw.subarray(0, end)).toString();
      at += 16 + len;
      if (mask & IN_Q_OVERFLOW) {
        this.counts.clear(); // events were lost: nothing counted so far can be trusted
        continue;
      }
      const dir = this.byWd.get(wd);
      if (mask & IN_IGNORED) {
        if (dir !== undefined) this.folders.delete(dir);
        this.byWd.delete(wd);
        continue;
      }
      if (dir === undefined || name === '') continue;
      const file = `${dir}/${name}`;
      if (mask & (IN_DELETE | IN_MOVED_FROM)) {
        this.counts.delete(file); // gone from this name: a file made there later starts afresh
        continue;
      }
      if (mask & IN_CREATE)
        this.counts.set(file, { created: true, opens: 0, closes: 0, wroteAndClosed: false, at: now });
      const counts = this.counts.get(file) ?? { created: false, opens: 0, closes: 0, wroteAndClosed: false, at: now };
      if (mask & IN_OPEN) counts.opens += 1;
      if (mask & (IN_CLOSE_WRITE | IN_CLOSE_NOWRITE)) counts.closes += 1;
      if (mask & IN_CLOSE_WRITE) counts.wroteAndClosed = true;
      counts.at = now;
      this.counts.set(file, counts);
    }
  }
}
