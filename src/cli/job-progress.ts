import type { JobView } from '../core/jobs/job.js';
import { bytes } from './format.js';

/** One reading of a job, to compute rates between readings. */
export interface Sample {
  at: number;
  done: number;
  bytes: number;
}

export function sample(job: JobView, at: number): Sample {
  return { at, done: writesDone(job), bytes: job.bytes.copied };
}

/** Writes the resync has finished (copied, removed, skipped or failed). */
export function writesDone(job: JobView): number {
  const c = job.counts;
  return c.copied + c.deleted + c.skipped + c.failed;
}

/** Writes the resync has found to do so far (it grows while the walk goes on). */
export function writesFound(job: JobView): number {
  const c = job.counts;
  return c.missing + c.different + (job.options.delete ? c.extra : 0);
}

/**
 * The progress line: items and bytes done of what is known, the rate since `first`, and an ETA from the bytes
 * still to copy (from the items when there are no bytes to go by). Totals grow while the walk finds more.
 */
export function progressLine(job: JobView, first: Sample, now: Sample): string {
  const seconds = Math.max(0.001, (now.at - first.at) / 1000);
  const itemRate = (now.done - first.done) / seconds;
  const byteRate = (now.bytes - first.bytes) / seconds;
  const found = writesFound(job);
  const leftBytes = Math.max(0, job.bytes.total - job.bytes.copied);
  const leftItems = Math.max(0, found - now.done);
  const eta =
    leftBytes > 0 && byteRate > 0
      ? leftBytes / byteRate
      : leftItems > 0 && itemRate > 0
        ? leftItems / itemRate
        : leftItems === 0
          ? 0
          : undefined;
  const parts = [
    `${job.kind} ${job.peer} <- ${job.from}`,
    `scanned ${job.counts.scanned}`,
    job.kind === 'resync' && !job.options.dryRun
      ? `items ${now.done}/${found}`
      : `differences ${job.counts.missing + job.counts.different + job.counts.extra}`,
    `${bytes(job.bytes.copied)}/${bytes(job.bytes.total)}`,
    `${itemRate.toFixed(1)} items/s`,
    `${bytes(Math.round(byteRate))}/s`,
    `ETA ${eta === undefined ? '?' : duration(eta)}`,
  ];
  return parts.join('  ');
}

function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
