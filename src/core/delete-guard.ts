import type { JournalEntry } from './entry.js';

/** `deleteGuard` in the config (CONTRACT "Delete guard"). */
export interface DeleteGuardSettings {
  /** Deletes one origin may send within the window; `0` turns the guard off. */
  maxDeletes: number;
  windowSeconds: number;
}

/**
 * One origin's recent deletes: counts per step of the window (a step is 1/60 of the window, at least a second),
 * and whether the origin is tripped. Small and JSON-shaped, so a store can keep it in one S3 object.
 */
export interface DeleteWindow {
  /** [step number, deletes in that step], oldest first; steps older than the window are dropped. */
  steps: [number, number][];
  /** Set once the origin went over the limit: every later delete is held until an operator acts. */
  tripped?: { at: string; reason: string };
}

/**
 * Where windows live: in memory, kept in a file for the next start (embedded: one process takes every delete;
 * runtime/delete-windows-file.ts), or in S3 (cloud: any API process may take a node's next delete, so the window is
 * shared and written with conditional writes).
 */
export interface DeleteWindowStore {
  /**
   * Reads the origin's window, lets `step` decide, writes the result back atomically (a concurrent writer makes it
   * read and decide again) and returns what `step` returned. `step` never modifies the window it is given, and
   * returns that same object when nothing changes (a store may then skip the write).
   */
  update<T>(origin: string, step: (window: DeleteWindow) => { window: DeleteWindow; result: T }): Promise<T>;
  /** Forgets the origin's window and trip (an operator acted on its last held delete). */
  clear(origin: string): Promise<void>;
  /** The window as stored (tests, `trip` at start-up). */
  read(origin: string): Promise<DeleteWindow>;
}

export interface DeleteVerdict {
  /** How many of the deletes pass (the first ones); the rest are held. */
  pass: number;
  /** Why the rest are held (for the entry's lastError and the log). */
  reason?: string;
  /** True when this call tripped the origin (the moment to log it once). */
  tripped?: boolean;
}

/** Steps per window: the window slides in steps of a 60th of its length (at least one second). */
const STEPS_PER_WINDOW = 60;

/**
 * Counts deletes per origin — a node, the admin token, or one resync job — in a sliding window. Once an origin
 * sends more than `maxDeletes` within `windowSeconds`, that delete and every later one from it are held: the
 * origin is *tripped* until an operator has released or discarded every delete it has HELD by this rule; then its
 * window starts over empty (see HeldChanges.rearm). The clock is injected: tests drive the window without sleeping.
 */
export class DeleteGuard {
  /** Deletes of each origin between their admit and their journaling (see journaling). */
  private readonly inFlight = new Map<string, number>();

  constructor(
    readonly settings: DeleteGuardSettings,
    private readonly store: DeleteWindowStore,
    private readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.settings.maxDeletes > 0;
  }

  /** Counts `count` deletes from `origin` arriving now; says how many pass. */
  async admit(origin: string, count = 1): Promise<DeleteVerdict> {
    if (!this.enabled || count <= 0) return { pass: count };
    const { maxDeletes, windowSeconds } = this.settings;
    const now = this.now();
    const step = currentStep(this.settings, now);
    return this.store.update<DeleteVerdict>(origin, (current) => {
      if (current.tripped) return { window: current, result: { pass: 0, reason: current.tripped.reason } };
      const steps = liveSteps(current.steps, this.settings, now, true);
      const seen = steps.reduce((sum, [, n]) => sum + n, 0);
      const pass = Math.max(0, Math.min(count, maxDeletes - seen));
      const last = steps[steps.length - 1];
      if (pass > 0) {
        // A new pair, never `last[1] += pass`: the window handed in stays as it was read.
        if (last && last[0] >= step) steps[steps.length - 1] = [last[0], last[1] + pass];
        else steps.push([step, pass]);
      }
      if (pass === count) return { window: { steps }, result: { pass } };
      const reason =
        `delete guard: ${describeOrigin(origin)} sent more than ${maxDeletes} deletes within ${windowSeconds} s; ` +
        'its deletes are held until an operator releases or discards them';
      const tripped = { at: new Date(now).toISOString(), reason };
      return { window: { steps, tripped }, result: { pass, reason, tripped: true } };
    });
  }

  /** Marks `origin` tripped (start-up: the journal still holds deletes it had HELD by the window rule). */
  async trip(origin: string, reason: string): Promise<void> {
    await this.store.update(origin, (current) => ({
      window: current.tripped ? current : { ...current, tripped: { at: new Date(this.now()).toISOString(), reason } },
      result: undefined,
    }));
  }

  /**
   * A delete of `origin` is being admitted and journaled: call the returned function once it is journaled (or is
   * not, after all). Meanwhile the origin is not rearmed: an operator acting on what looked like its last held
   * delete would otherwise clear its trip while a delete it had just held was still on its way into the journal,
   * and the origin's later deletes would pass.
   */
  journaling(origin: string): () => void {
    this.inFlight.set(origin, (this.inFlight.get(origin) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const left = (this.inFlight.get(origin) ?? 1) - 1;
      if (left > 0) this.inFlight.set(origin, left);
      else this.inFlight.delete(origin);
    };
  }

  /**
   * An operator acted on the origin's last held delete: it starts over with an empty window. Not while one of its
   * deletes is being journaled (see journaling): that one may be HELD, and keeps the origin tripped.
   */
  async rearm(origin: string): Promise<void> {
    if ((this.inFlight.get(origin) ?? 0) > 0) return;
    await this.store.clear(origin);
  }

  tripped(origin: string): Promise<boolean> {
    return this.store.read(origin).then((w) => w.tripped !== undefined);
  }
}

function stepMs(settings: DeleteGuardSettings): number {
  return Math.max(1000, Math.ceil((settings.windowSeconds * 1000) / STEPS_PER_WINDOW));
}

function currentStep(settings: DeleteGuardSettings, nowMs: number): number {
  return Math.floor(nowMs / stepMs(settings));
}

/**
 * The steps of a window that still count at `nowMs`: older ones have left the window, and ones ahead of the clock
 * never count — a clock set back, or steps counted under another `windowSeconds` (another step length) by an
 * earlier run, must not hold deletes until the clock catches up with them.
 */
export function liveSteps(
  steps: [number, number][],
  settings: DeleteGuardSettings,
  nowMs: number,
  ahead = false,
): [number, number][] {
  const step = currentStep(settings, nowMs);
  const span = Math.ceil((settings.windowSeconds * 1000) / stepMs(settings));
  const oldest = step - span;
  return steps.filter(([s]) => s >= oldest && s <= step + (ahead ? span : 0));
}

/** The origin a delete is counted under: its resync job, else the node that sent it (`''`: the admin token). */
export function deleteOrigin(entry: Pick<JournalEntry, 'job' | 'node'>): string {
  return entry.job !== undefined ? `job:${entry.job}` : (entry.node ?? '');
}

export function describeOrigin(origin: string): string {
  if (origin === '') return 'the admin token';
  if (origin.startsWith('job:')) return `resync job ${origin.slice(4)}`;
  return `node ${origin}`;
}

/** Windows in this process's memory (the embedded relay: one process takes every delete). */
export class MemoryDeleteWindows implements DeleteWindowStore {
  private readonly windows = new Map<string, DeleteWindow>();

  /**
   * `initial`: windows kept from an earlier run (FileDeleteWindows). `onChange`: called after every change, to keep
   * them (see snapshot).
   */
  constructor(
    initial: Iterable<[string, DeleteWindow]> = [],
    private readonly onChange?: () => void,
  ) {
    for (const [origin, window] of initial) this.windows.set(origin, window);
  }

  async update<T>(origin: string, step: (window: DeleteWindow) => { window: DeleteWindow; result: T }): Promise<T> {
    // No await between the read and the write: concurrent updates of one origin cannot interleave.
    const current = this.copy(origin);
    const { window, result } = step(current);
    if (window === current) return result; // nothing changed (a tripped origin's next delete, say)
    if (window.steps.length === 0 && !window.tripped) this.windows.delete(origin);
    else this.windows.set(origin, window);
    this.onChange?.();
    return result;
  }

  async clear(origin: string): Promise<void> {
    if (this.windows.delete(origin)) this.onChange?.();
  }

  async read(origin: string): Promise<DeleteWindow> {
    return this.copy(origin);
  }

  /** Every window, copied (what a store that keeps them writes). */
  snapshot(): [string, DeleteWindow][] {
    return [...this.windows.keys()].map((origin) => [origin, this.copy(origin)]);
  }

  private copy(origin: string): DeleteWindow {
    const window = this.windows.get(origin);
    return window ? { steps: window.steps.map(([s, n]) => [s, n]), tripped: window.tripped } : { steps: [] };
  }
}
