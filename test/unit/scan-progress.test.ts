import { describe, expect, it } from 'vitest';
import type { ScanProgress } from '../../src/agent/agent.js';
import { scanProgressDisplay } from '../../src/cli/progress.js';

const at = (files: number, bytes: number, done = false): ScanProgress => ({ files, folders: 1, bytes, done });

describe("the agent's scan progress display", () => {
  it('redraws one line in place on a terminal, at most every interval, and ends with the totals and rate', () => {
    let clock = 1_000;
    const written: string[] = [];
    const show = scanProgressDisplay({
      label: '/srv/ftp',
      stream: { write: (t: string) => written.push(t), isTTY: true },
      now: () => clock,
      intervalMs: 100,
    })!;
    show(at(1, 1024)); // drawn
    clock += 50;
    show(at(2, 2048)); // within the interval: skipped
    clock += 950;
    show(at(100, 10 * 1024 * 1024)); // drawn: 100 files in 1 s
    clock += 1000;
    show(at(150, 20 * 1024 * 1024, true)); // the last one, always drawn
    expect(written).toEqual([
      '\r\x1b[Kscanning /srv/ftp: 1 files, 1 folders, 1.0 KiB',
      '\r\x1b[Kscanning /srv/ftp: 100 files, 1 folders, 10.0 MiB (100 files/s, 10.0 MiB/s)',
      '\r\x1b[Kscanned /srv/ftp: 150 files, 1 folders, 20.0 MiB in 2.0 s (75 files/s, 10.0 MiB/s)\n',
    ]);
  });

  it('shows nothing when the stream is not a terminal, unless forced (then one line per redraw)', () => {
    const written: string[] = [];
    const stream = { write: (t: string) => written.push(t), isTTY: false };
    expect(scanProgressDisplay({ label: 'x', stream, force: false })).toBeUndefined();
    const forced = scanProgressDisplay({ label: 'x', stream, force: true, now: () => 0 })!;
    forced(at(1, 1));
    forced(at(2, 2, true));
    expect(written).toEqual(['scanning x: 1 files, 1 folders, 1 B\n', 'scanned x: 2 files, 1 folders, 2 B in 0.0 s\n']);
  });
});
