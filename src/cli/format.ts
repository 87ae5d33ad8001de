import { escapeMatches } from '../core/log-escape.js';

/** Plain-text tables for operators: fixed columns, no colours (output is often piped or logged). */
export function table(headers: string[], rows: (string | number)[][]): string {
  // Escaped before measuring: a cell's `\uXXXX` escapes are what the terminal shows (print escapes nothing more).
  const cells = [headers, ...rows.map((r) => r.map((c) => terminalSafe(String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** Controls but the line feed and the tab, the line and paragraph separators, and Unicode format characters. */
const UNSAFE_ON_A_TERMINAL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]|\p{Cf}/gu;

/**
 * `text` as it may reach an operator's terminal: every control character (but the line feed and the tab) and every
 * bidi or zero-width format character written as `\uXXXX`. Paths, error messages and a peer's answers come from
 * nodes and servers: raw, an escape sequence in them sets the window title, clears the screen or rewrites what an
 * operator reads. Inside JSON output the same `\uXXXX` is a valid escape of the same character.
 */
export function terminalSafe(text: string): string {
  return escapeMatches(text, UNSAFE_ON_A_TERMINAL);
}

/** Writes one line of output for an operator (see terminalSafe). */
export function print(text: string): void {
  process.stdout.write(`${terminalSafe(text)}\n`);
}
