import type { LogFields, Logger } from '../../core/logger.js';

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
export type LogLevel = keyof typeof LEVELS;

/** One JSON object per line, the shape CloudWatch Logs Insights and `jq` read directly. */
export class JsonLogger implements Logger {
  constructor(
    private readonly write: (line: string) => void = (line) => process.stdout.write(line),
    private readonly minimum: LogLevel = (process.env.VFS_RELAY_LOG_LEVEL as LogLevel | undefined) ?? 'info',
    private readonly base: LogFields = { service: 'vfs-relay' },
  ) {}

  debug(message: string, fields?: LogFields): void {
    this.log('debug', message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.log('info', message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.log('warn', message, fields);
  }
  error(message: string, fields?: LogFields): void {
    this.log('error', message, fields);
  }

  private log(level: LogLevel, message: string, fields?: LogFields): void {
    if (LEVELS[level] < (LEVELS[this.minimum] ?? LEVELS.info)) return;
    const record = { level, time: new Date().toISOString(), message, ...this.base, ...fields };
    this.write(`${JSON.stringify(record, errorReplacer)}\n`);
  }
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error)
    return { name: value.name, message: value.message, code: (value as NodeJS.ErrnoException).code };
  return value;
}
