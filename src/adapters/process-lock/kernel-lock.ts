import { createRequire } from 'node:module';

/** What this module needs of fs-native-extensions (it ships no types). */
interface NativeLocks {
  /** An exclusive, non-blocking lock on the whole file; false when another open file description holds it. */
  tryLock(fd: number): boolean;
}

let loaded: NativeLocks | null | undefined;

/**
 * The kernel's file locks through fs-native-extensions (a prebuilt N-API binary inside the npm package: nothing
 * downloaded or compiled at install). Undefined where no binary fits the platform (musl, an unusual CPU): the
 * caller then uses the stamp lock. Loaded once, lazily, so that a missing binary costs nothing elsewhere.
 */
export function kernelLock(): NativeLocks | undefined {
  if (loaded === undefined) {
    try {
      loaded = createRequire(import.meta.url)('fs-native-extensions') as NativeLocks;
    } catch {
      loaded = null;
    }
  }
  if (process.env.VFS_RELAY_LOCK === 'stamp') return undefined; // tests of the fallback, and an escape hatch
  return loaded ?? undefined;
}
