import pino from 'pino';
import { escapeLogText } from '../../core/log-escape.js';
import type { LogFields, Logger } from '../../core/logger.js';
import { prettyLine } from './pretty.js';
import { loggableError, REDACTED, SECRET_KEYS } from './secret-keys.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const LEVELS: readonly string[] = ['debug', 'info', 'warn', 'error'];

/** Where log lines go: anything with `write(line)` (a stream, a file, a test's array). */
export interface LogSink {
  write(line: string): unknown;
  isTTY?: boolean;
}

export interface LoggerOptions {
  /** Default: stdout. */
  sink?: LogSink | ((line: string) => unknown);
  /** Default `$VFS_RELAY_LOG_LEVEL`, else `info`. */
  level?: LogLevel;
  /** `json` (one object per line), `pretty` (one readable line), or `auto` (pretty on a terminal; the default). */
  format?: 'json' | 'pretty' | 'auto';
  /** Fields on every line. Default `{ service: 'vfs-relay' }`. */
  base?: LogFields;
}

/**
 * Keys of the line itself: a field of that name is kept as `field_<key>` instead of replacing it (the Lambdas'
 * Powertools adapter does the same).
 */
const RESERVED = new Set(['level', 'time', 'message', 'service']);

/**
 * Where secrets are redacted, in pino's path syntax: SECRET_KEYS at the top and one level down, and in headers.
 * `redactFields` below applies exactly these (pino's own `redact` option with them cost ~9 µs per line, three
 * times the rest of the line: the relay writes a line for every replayed file).
 */
export const REDACTED_PATHS = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((key) => `*.${key}`),
  'headers.authorization',
  '*.headers.authorization',
];
const SECRET = new Set<string>(SECRET_KEYS);

/**
 * The one logger of every Node process (serve in both modes, demo, agent), on pino: JSON lines
 * `{ "level": "info", "time": ISO, "service", ...fields, "message" }` — the shape `jq` and CloudWatch Logs Insights
 * read directly; errors anywhere in the fields as `{ name, message, stack, code, cause }`; secrets redacted. On a
 * terminal (or with `VFS_RELAY_LOG_FORMAT=pretty`) each line is written in a readable form instead.
 */
export class PinoLogger implements Logger {
  /** Private: pino applies no bindings formatter to a child's bindings, so a child would escape redactFields. */
  private readonly pino: pino.Logger;

  constructor(options: LoggerOptions = {}) {
    const sink = typeof options.sink === 'function' ? { write: options.sink } : (options.sink ?? process.stdout);
    const envLevel = process.env.VFS_RELAY_LOG_LEVEL;
    const level = options.level ?? (envLevel && LEVELS.includes(envLevel) ? (envLevel as LogLevel) : 'info');
    const format = options.format ?? formatFromEnv();
    const pretty = format === 'pretty' || (format === 'auto' && sink.isTTY === true);
    this.pino = pino(
      {
        level,
        messageKey: 'message',
        base: options.base ?? { service: 'vfs-relay' },
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: {
          level: (label) => ({ level: label }),
          // The line's fields, and the fields every line carries (`base`): pino's redact option covered both.
          log: (fields) => redactFields(withErrors(fields)),
          bindings: redactFields,
        },
      },
      // pino leaves format characters (bidi overrides, zero-width), DEL, C1 controls and U+2028/9 raw in its JSON;
      // a request may carry them. Escaped here, the line still decodes to what was logged.
      pretty
        ? {
            write: (line: string) =>
              sink.write(escapeLogText(prettyLine(line, sink.isTTY === true), { controls: false })),
          }
        : { write: (line: string) => sink.write(escapeJsonLine(line)) },
    );
  }

  debug(message: string, fields?: LogFields): void {
    this.pino.debug(safe(fields), message);
  }
  info(message: string, fields?: LogFields): void {
    this.pino.info(safe(fields), message);
  }
  warn(message: string, fields?: LogFields): void {
    this.pino.warn(safe(fields), message);
  }
  error(message: string, fields?: LogFields): void {
    this.pino.error(safe(fields), message);
  }
}

/** A JSON line with its unsafe characters escaped; its own newline stays. */
function escapeJsonLine(line: string): string {
  return line.endsWith('\n') ? `${escapeLogText(line.slice(0, -1))}\n` : escapeLogText(line);
}

function formatFromEnv(): 'json' | 'pretty' | 'auto' {
  const value = process.env.VFS_RELAY_LOG_FORMAT;
  return value === 'json' || value === 'pretty' ? value : 'auto';
}

function safe(fields: LogFields | undefined): LogFields {
  if (!fields) return {};
  const out: LogFields = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    out[RESERVED.has(key) ? `field_${key}` : key] = value;
  }
  return out;
}

/** Every Error among the fields (not only under `err`, pino's default key) with its stack and causes. */
function withErrors(fields: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(fields)) {
    if (value instanceof Error) {
      out ??= { ...fields };
      out[key] = serializeError(value);
    }
  }
  return out ?? fields;
}

/**
 * `fields` with the values at REDACTED_PATHS written as REDACTED. Copies only the objects it changes: the caller's
 * are never touched, and a line without secrets (nearly all of them) costs a walk over its keys and no copy.
 */
export function redactFields(fields: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    // An undefined value at the top stays undefined (left out of the line), as pino's redaction leaves it.
    const next = SECRET.has(key) && value !== undefined ? REDACTED : isObject(value) ? redactChild(value) : value;
    if (next !== value) {
      out ??= { ...fields };
      out[key] = next;
    }
  }
  return out ?? fields;
}

/** One level down: SECRET_KEYS, and `headers.authorization` below it. */
function redactChild(value: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    const item = value[key];
    let next = item;
    if (SECRET.has(key)) next = REDACTED;
    else if (key === 'headers' && isObject(item) && Object.hasOwn(item, 'authorization')) {
      next = { ...item, authorization: REDACTED };
    }
    if (next !== item) {
      out ??= { ...value };
      out[key] = next;
    }
  }
  return out ?? value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

export function serializeError(error: Error): Record<string, unknown> {
  return named(pino.stdSerializers.errWithCause(loggableError(error)) as unknown as Record<string, unknown>);
}

/** errWithCause's shape with `name` (our field since the first release) for its `type`, causes alike. */
function named(serialized: Record<string, unknown>): Record<string, unknown> {
  const { type, cause, ...rest } = serialized;
  const nested = typeof cause === 'object' && cause !== null ? named(cause as Record<string, unknown>) : cause;
  return { name: type, ...rest, ...(cause !== undefined && { cause: nested }) };
}
