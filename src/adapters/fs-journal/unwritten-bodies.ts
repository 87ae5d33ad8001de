import type { EntryRef } from '../../core/entry.js';
import { entryKey } from './layout.js';

/** Bodies of acknowledged uploads whose folders are still being written, at most (see UnwrittenBodies). */
const UNWRITTEN_BYTES = 64 * 1024 * 1024;

/** One upload's body, shared by its lanes until the janitor has written their folders. */
export interface Unwritten {
  readonly body: Buffer;
  /** Settles once the folders are written (or their writing failed: the body then stays here). */
  written: Promise<void>;
}

interface Held extends Unwritten {
  lanes: number;
  released: boolean;
}

/**
 * Small uploads acknowledged before the janitor wrote their folders (the write-ahead log holds them): their
 * bodies, served from memory until the files are there. At most UNWRITTEN_BYTES in all; beyond that,
 * acknowledgements wait for the files.
 */
export class UnwrittenBodies {
  private readonly byKey = new Map<string, Held>();
  private bytes = 0;

  hasRoomFor(size: number): boolean {
    return this.bytes + size <= UNWRITTEN_BYTES;
  }

  /** Serves `body` for `entries` until `forget` (or each lane's `release`). */
  hold(entries: readonly EntryRef[], body: Buffer): Unwritten {
    const held: Held = { body, written: Promise.resolve(), lanes: entries.length, released: false };
    this.bytes += body.length;
    for (const entry of entries) this.byKey.set(entryKey(entry), held);
    return held;
  }

  get(ref: EntryRef): Unwritten | undefined {
    return this.byKey.get(entryKey(ref));
  }

  /** Stops serving the body of `entries` that `held` still serves (the files took over, or nothing was kept). */
  forget(entries: readonly EntryRef[], held: Unwritten): void {
    for (const entry of entries) if (this.byKey.get(entryKey(entry)) === held) this.release(entry);
  }

  /** Stops serving `ref`'s body from memory; the memory goes once no lane of that upload needs it. */
  release(ref: EntryRef): void {
    const held = this.byKey.get(entryKey(ref));
    if (!held) return;
    this.byKey.delete(entryKey(ref));
    held.lanes -= 1;
    if (held.lanes === 0 && !held.released) {
      held.released = true;
      this.bytes -= held.body.length;
    }
  }
}
