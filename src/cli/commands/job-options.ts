import type { Command } from 'commander';

/** The options `peer verify` and `peer resync` share (the actions live in jobs.ts, loaded when they run). */
export function addJobOptions(command: Command): Command {
  return command
    .requiredOption('--from <name>', 'the source (or another peer) to compare with')
    .option('--path <path>', 'only this folder (default /)')
    .option('--checksum', 'compare SHA-256 of both sides (reads every file) instead of size and time');
}
