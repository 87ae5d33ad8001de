import { chmodSync, lstatSync, mkdtempSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';

/** How long the probe waits for the change time to move on (timestamps advance once per kernel tick). */
const PROBE_LIMIT_MS = 500;

/**
 * Whether this host reports real birth times. Where the kernel has no `statx` (Linux before 4.11, or a container
 * whose seccomp profile blocks it), Node fills the birth time with the change time — which moves on every
 * rename, chmod and write — and a folder would no longer be recognised as itself. Probed once: a folder is made
 * in `dir`, its change time moved on with chmod, and its birth time read again. A host with no birth times at all
 * (always 0) passes: 0 means "unknown" wherever they are compared.
 */
export function birthTimesAreReal(dir: string): boolean {
  const probe = mkdtempSync(join(dir, '.birth-time-probe-'));
  try {
    const first = lstatSync(probe, { bigint: true });
    if (first.birthtimeNs === 0n) return true;
    const deadline = performance.now() + PROBE_LIMIT_MS;
    let now = first;
    for (let mode = 0o750; now.ctimeNs === first.ctimeNs && performance.now() < deadline; mode ^= 0o050) {
      chmodSync(probe, mode);
      now = lstatSync(probe, { bigint: true });
    }
    return now.birthtimeNs === first.birthtimeNs;
  } finally {
    rmdirSync(probe);
  }
}
