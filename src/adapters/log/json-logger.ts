import type { LogFields } from '../../core/logger.js';
import { type LogLevel, PinoLogger } from './pino-logger.js';

/**
 * @deprecated Use PinoLogger. The old hand-written JSON logger's constructor on top of it, kept only so that
 * branches written against it keep compiling while they merge; remove once nothing imports it.
 */
export class JsonLogger extends PinoLogger {
  constructor(write?: (line: string) => void, minimum?: LogLevel, base?: LogFields) {
    super({ sink: write, level: minimum, base, format: write ? 'json' : undefined });
  }
}
