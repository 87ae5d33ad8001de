import { Logger as Powertools } from '@aws-lambda-powertools/logger';
import { redactSecrets } from '../adapters/log/secret-keys.js';
import { escapeJsonStringValue, escapeLogText } from '../core/log-escape.js';
import type { LogFields, Logger } from '../core/logger.js';
import { RelayLogFormatter } from './log-formatter.js';
import { DEFAULT_SERVICE_NAME } from './metric-names.js';

/**
 * Keys Powertools writes itself and drops (with a warning line) when a caller passes them, and `time` (the
 * formatter's): a core field of that name is kept under `field_<key>` instead. Mirrors ReservedKeys of
 * @aws-lambda-powertools/logger.
 */
const RESERVED = new Set(['level', 'message', 'sampling_rate', 'service', 'timestamp', 'time']);

/**
 * The core's Logger on Powertools Logger: one JSON object per line in the shape of every vfs-relay process
 * (RelayLogFormatter: level, time, service, message), the Lambda context when the handler adds it
 * (`powertools.addContext(context)`), and the core's fields at top level (entryId, lane, peer, action, outcome,
 * ...), so Logs Insights filters on them directly. Errors in fields are written as { name, location, message,
 * stack, cause }; secret-named fields as "***". Level: `POWERTOOLS_LOG_LEVEL` (default INFO).
 */
export class PowertoolsLogger implements Logger {
  readonly powertools: Powertools;

  constructor(powertools?: Powertools) {
    this.powertools =
      powertools ??
      new Powertools({
        serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? DEFAULT_SERVICE_NAME,
        logFormatter: new RelayLogFormatter(),
        // Every string of the line, at any depth (nested fields, an error's message and stack), escaped as the
        // pino logger escapes its whole line.
        jsonReplacerFn: (_key: string, value: unknown) =>
          typeof value === 'string' ? escapeJsonStringValue(value) : value,
      });
  }

  debug(message: string, fields?: LogFields): void {
    this.powertools.debug(escapeLogText(message), safe(fields));
  }
  info(message: string, fields?: LogFields): void {
    this.powertools.info(escapeLogText(message), safe(fields));
  }
  warn(message: string, fields?: LogFields): void {
    this.powertools.warn(escapeLogText(message), safe(fields));
  }
  error(message: string, fields?: LogFields): void {
    this.powertools.error(escapeLogText(message), safe(fields));
  }
}

function safe(fields: LogFields | undefined): LogFields {
  if (!fields) return {};
  const out: LogFields = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    out[RESERVED.has(key) ? `field_${key}` : key] = typeof value === 'string' ? escapeLogText(value) : value;
  }
  return redactSecrets(out) as LogFields;
}
