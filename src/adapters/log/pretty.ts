/**
 * The readable form of a JSON log line, for a person at a terminal:
 * `12:00:01.234 INFO  relay listening  url=http://127.0.0.1:8787 peers=["server2"]`, then an error's stack
 * (and its causes') indented below. Colours only when `colour` is set (a TTY).
 */

import { escapeLogText } from '../../core/log-escape.js';

const COLOURS: Record<string, string> = { debug: '\x1b[90m', info: '\x1b[36m', warn: '\x1b[33m', error: '\x1b[31m' };
const RESET = '\x1b[0m';
const SKIPPED = new Set(['level', 'time', 'message', 'service']);

export function prettyLine(line: string, colour: boolean): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line; // not ours: pass it through as it is
  }
  const level = String(record.level ?? '');
  const time = typeof record.time === 'string' ? record.time.slice(11, 23) : '';
  const tag = level.toUpperCase().padEnd(5);
  const fields: string[] = [];
  const stacks: string[] = [];
  for (const [key, value] of Object.entries(record)) {
    if (SKIPPED.has(key)) continue;
    // Every piece that came from the line is escaped (controls included) before this adds colours and newlines:
    // a path, a message or an error a node or a peer supplied must not write to the terminal.
    if (isSerializedError(value)) {
      fields.push(`${key}=${escapeLogText(JSON.stringify(value.message))}`);
      if (typeof value.stack === 'string') stacks.push(value.stack);
      continue;
    }
    const shown = typeof value === 'string' && !/\s/.test(value) ? value : JSON.stringify(value);
    fields.push(`${key}=${escapeLogText(shown)}`);
  }
  const head = colour ? `${COLOURS[level] ?? ''}${tag}${RESET}` : tag;
  const message = escapeLogText(String(record.message ?? ''));
  const text = `${time} ${head} ${message}${fields.length ? `  ${fields.join(' ')}` : ''}`;
  const below = stacks.flatMap((stack) => stack.split('\n').map((l) => `    ${escapeLogText(l)}`));
  return `${[text, ...below].join('\n')}\n`;
}

function isSerializedError(value: unknown): value is { message?: string; stack?: string } {
  return typeof value === 'object' && value !== null && 'stack' in value && 'message' in value;
}
