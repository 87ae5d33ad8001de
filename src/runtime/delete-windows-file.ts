import { readFile } from 'node:fs/promises';
import { replaceFile } from '../adapters/durable-files/replace-file.js';
import {
  type DeleteGuardSettings,
  type DeleteWindow,
  type DeleteWindowStore,
  liveSteps,
  MemoryDeleteWindows,
} from '../core/delete-guard.js';
import type { Logger } from '../core/logger.js';

/** `<journal>/delete-guard.json`, beside `multi_journal/` (never inside it: the journal layout is a contract). */
export const DELETE_WINDOWS_FILE = 'delete-guard.json';
const VERSION = 1;

/**
 * The embedded relay's delete-guard windows, kept in a file so that a restart does not hand every origin a fresh
 * window (before, a node could send up to `maxDeletes` more deletes right after each restart). Memory decides, as
 * before (MemoryDeleteWindows: one process takes every delete); each change is written behind it — one write at a
 * time, always of the latest windows, fsynced and renamed into place — so a delete never waits for the disk. A crash
 * loses at most the changes since the last write. A trip is not kept: at start the journal decides it
 * (HeldChanges.restoreTrips), so an origin is never found tripped without a held delete for an operator to act on.
 */
export class FileDeleteWindows implements DeleteWindowStore {
  private readonly memory: MemoryDeleteWindows;
  private writing: Promise<void> | undefined;
  private dirty = false;
  private failing = false;

  private constructor(
    private readonly file: string,
    initial: [string, DeleteWindow][],
    private readonly options: WindowsFileOptions,
  ) {
    this.memory = new MemoryDeleteWindows(initial, () => this.changed());
  }

  /**
   * Reads the windows an earlier run kept, with only the steps that still count now (see liveSteps); none (a first
   * start), or an unreadable file (a warning): empty ones.
   */
  static async open(file: string, options: WindowsFileOptions): Promise<FileDeleteWindows> {
    const { logger } = options;
    let initial: [string, DeleteWindow][] = [];
    try {
      initial = live(parseWindows(await readFile(file, 'utf8')), options);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        logger.warn('delete guard: the windows file is unreadable; every window starts empty', {
          path: file,
          error,
        });
      }
    }
    return new FileDeleteWindows(file, initial, options);
  }

  update<T>(origin: string, step: (window: DeleteWindow) => { window: DeleteWindow; result: T }): Promise<T> {
    return this.memory.update(origin, step);
  }

  clear(origin: string): Promise<void> {
    return this.memory.clear(origin);
  }

  read(origin: string): Promise<DeleteWindow> {
    return this.memory.read(origin);
  }

  /** Resolves once the latest windows are on disk (or their write failed, with a warning). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private changed(): void {
    this.dirty = true;
    this.writing ??= this.writeBehind();
  }

  private async writeBehind(): Promise<void> {
    try {
      while (this.dirty) {
        this.dirty = false;
        // Only what still counts: windows of origins long quiet (finished jobs, say) are not carried on.
        const windows = Object.fromEntries(live(this.memory.snapshot(), this.options));
        try {
          // A fixed temporary name: one writer at a time, and a leftover of a crash is overwritten by the next.
          await replaceFile(this.file, `${JSON.stringify({ version: VERSION, windows })}\n`, {
            temporary: `${this.file}.tmp`,
          });
          this.failing = false;
        } catch (error) {
          // Once per run of failures, not once per delete.
          if (!this.failing) {
            this.options.logger.warn('delete guard: could not keep the windows on disk; they hold in memory', {
              path: this.file,
              error,
            });
          }
          this.failing = true;
        }
      }
    } finally {
      this.writing = undefined;
    }
  }
}

export interface WindowsFileOptions {
  /** The guard's settings and clock: which steps still count (see liveSteps). */
  settings: DeleteGuardSettings;
  now: () => number;
  logger: Logger;
}

/** Windows with only the steps that count now; those left with none are dropped (a trip is never kept). */
function live(windows: [string, DeleteWindow][], options: WindowsFileOptions): [string, DeleteWindow][] {
  const now = options.now();
  return windows
    .map(([origin, w]): [string, DeleteWindow] => [origin, { steps: liveSteps(w.steps, options.settings, now) }])
    .filter(([, w]) => w.steps.length > 0);
}

/** The windows of a file written by FileDeleteWindows; throws on anything else. */
export function parseWindows(text: string): [string, DeleteWindow][] {
  const data = JSON.parse(text) as { version?: unknown; windows?: unknown };
  if (data?.version !== VERSION || typeof data.windows !== 'object' || data.windows === null) {
    throw new Error(`not a version ${VERSION} delete-guard windows file`);
  }
  return Object.entries(data.windows as Record<string, { steps?: unknown }>).map(([origin, window]) => {
    const steps = window?.steps;
    const valid =
      Array.isArray(steps) &&
      steps.every(
        (pair) =>
          Array.isArray(pair) && pair.length === 2 && pair.every((n) => Number.isSafeInteger(n) && (n as number) >= 0),
      );
    if (!valid) throw new Error(`the window of ${JSON.stringify(origin)} is malformed`);
    return [origin, { steps: (steps as [number, number][]).map(([s, n]) => [s, n] as [number, number]) }];
  });
}
