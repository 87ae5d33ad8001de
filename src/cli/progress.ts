import type { ScanProgress } from '../agent/agent.js';
import { bytes } from './format.js';

/** Where progress goes: stderr, or a test's stand-in. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface ScanDisplayOptions {
  /** What is being scanned, for the line (the watched folder). */
  label: string;
  stream?: ProgressStream;
  /** Show it even when the stream is not a terminal (`VFS_RELAY_PROGRESS=1`; tests). */
  force?: boolean;
  now?: () => number;
  /** Least time between two redraws. */
  intervalMs?: number;
}

/**
 * The agent's listing at start as one line redrawn in place on a terminal — files, folders, bytes and rate — and a
 * last line when it is done. Undefined (nothing shown) when the stream is not a terminal: logs stay clean.
 */
export function scanProgressDisplay(options: ScanDisplayOptions): ((progress: ScanProgress) => void) | undefined {
  const stream = options.stream ?? process.stderr;
  const force = options.force ?? process.env.VFS_RELAY_PROGRESS === '1';
  if (!stream.isTTY && !force) return undefined;
  const now = options.now ?? Date.now;
  const intervalMs = options.intervalMs ?? 100;
  const startedAt = now();
  let drawnAt = Number.NEGATIVE_INFINITY;
  // On a terminal the line is redrawn in place; forced onto a pipe, each redraw is a line of its own.
  const redraw = stream.isTTY ? '\r\x1b[K' : '';
  const end = stream.isTTY ? '' : '\n';
  return (progress) => {
    const at = now();
    if (!progress.done && at - drawnAt < intervalMs) return;
    drawnAt = at;
    const text = scanLine(options.label, progress, at - startedAt);
    stream.write(progress.done ? `${redraw}${text}\n` : `${redraw}${text}${end}`);
  };
}

export function scanLine(label: string, progress: ScanProgress, elapsedMs: number): string {
  const seconds = elapsedMs / 1000;
  const counts = `${progress.files.toLocaleString('en-US')} files, ${progress.folders.toLocaleString('en-US')} folders, ${bytes(progress.bytes)}`;
  const rate =
    seconds > 0
      ? ` (${Math.round(progress.files / seconds).toLocaleString('en-US')} files/s, ${bytes(Math.round(progress.bytes / seconds))}/s)`
      : '';
  return progress.done
    ? `scanned ${label}: ${counts} in ${seconds.toFixed(1)} s${rate}`
    : `scanning ${label}: ${counts}${rate}`;
}
