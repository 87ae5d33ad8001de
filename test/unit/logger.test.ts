import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { JsonLogger } from '../../src/adapters/log/json-logger.js';
import { PinoLogger, REDACTED_PATHS, redactFields } from '../../src/adapters/log/pino-logger.js';

function capture(options: ConstructorParameters<typeof PinoLogger>[0] = {}) {
  const lines: string[] = [];
  const logger = new PinoLogger({ sink: (line) => void lines.push(line), format: 'json', ...options });
  return { logger, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('the relay logger (pino)', () => {
  it('writes one JSON object per line: level, time, message, service and the fields at top level', () => {
    const { logger, lines, records } = capture();
    logger.info('replayed', { entryId: 'e1', peer: 'server2', outcome: 'applied', durationMs: 12, skipped: undefined });
    expect(lines).toHaveLength(1);
    expect(lines[0]!.endsWith('\n')).toBe(true);
    const [record] = records();
    expect(record).toEqual({
      level: 'info',
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      service: 'vfs-relay',
      message: 'replayed',
      entryId: 'e1',
      peer: 'server2',
      outcome: 'applied',
      durationMs: 12,
    });
  });

  it('writes an error under any key with its name, message, code, stack and cause', () => {
    const { logger, records } = capture();
    const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    logger.error('sweep failed', { error: new TypeError('fetch failed', { cause }), reason: new RangeError('r') });
    const [record] = records();
    const error = record!.error as Record<string, unknown>;
    expect(error).toMatchObject({ name: 'TypeError', message: 'fetch failed' });
    expect(error.stack).toMatch(/^TypeError: fetch failed\n\s+at /);
    expect(error.cause).toMatchObject({
      name: 'Error',
      message: 'connect ECONNREFUSED 127.0.0.1:9',
      code: 'ECONNREFUSED',
    });
    expect((error.cause as Record<string, unknown>).stack).toMatch(/ECONNREFUSED/);
    expect(record!.reason).toMatchObject({ name: 'RangeError', message: 'r' });
  });

  it('redacts secrets passed by mistake', () => {
    const { logger, lines } = capture();
    logger.warn('request refused', {
      headers: { authorization: 'Bearer top-secret-token-1' },
      password: 'top-secret-password-2',
      peer: { name: 'server2', password: 'top-secret-password-3' },
      request: { headers: { authorization: 'Basic top-secret-basic-4' } },
      token: 'top-secret-token-5',
    });
    expect(lines.join('')).not.toMatch(/top-secret/);
    expect(JSON.parse(lines[0]!)).toMatchObject({ password: '***', peer: { name: 'server2', password: '***' } });
  });

  it("redacts exactly what pino's own redact option did with the same paths, and copies only what it changes", () => {
    const lines: string[] = [];
    const reference = pino(
      {
        messageKey: 'message',
        base: { service: 'vfs-relay' },
        timestamp: false,
        formatters: { level: (label) => ({ level: label }) },
        redact: { paths: REDACTED_PATHS, censor: '***' },
      },
      { write: (line: string) => void lines.push(line) },
    );
    const headers = { authorization: 'Bearer s1', accept: '*/*' };
    const corpus: Record<string, unknown>[] = [
      { entryId: 'e1', peer: 'p', path: '/a', httpStatus: 201 },
      { password: 's2', token: 's3', adminToken: 's4', nodeTokens: { a: 's5' }, authorization: 's6', ok: 1 },
      { peer: { name: 'p', password: 's7', url: 'https://x/' }, config: { nodeTokens: { a: 's8' }, limits: {} } },
      { headers, request: { headers, method: 'PUT' }, deep: { a: { password: 'kept: deeper than the paths' } } },
      { request: { headers: { accept: '*/*' } }, list: [{ password: 'kept: in an array' }], nothing: null },
      { peer: { password: undefined, name: 'p' }, headers: { authorization: undefined }, n: 0, s: '', b: false },
      { token: undefined, TOKEN: 'kept: keys are case-sensitive', Password: 'kept too' },
    ];
    for (const fields of corpus) {
      const before = JSON.stringify(fields);
      lines.length = 0;
      reference.info(fields, 'm');
      const expected = JSON.parse(lines[0]!);
      lines.length = 0;
      pino(
        {
          messageKey: 'message',
          base: { service: 'vfs-relay' },
          timestamp: false,
          formatters: { level: (label) => ({ level: label }), log: redactFields },
        },
        { write: (line: string) => void lines.push(line) },
      ).info(fields, 'm');
      expect(JSON.parse(lines[0]!)).toEqual(expected);
      expect(JSON.stringify(fields)).toBe(before); // the caller's objects are untouched
    }
    expect(headers.authorization).toBe('Bearer s1');
    const plain = { entryId: 'e1', peer: { name: 'p' } };
    expect(redactFields(plain)).toBe(plain); // nothing to redact: no copy
  });

  it("redacts secrets in the fields every line carries (the logger's base)", () => {
    const { logger, lines } = capture({
      base: { service: 'x', password: 'top-secret-7', peer: { token: 'top-secret-8' } },
    });
    logger.info('one');
    logger.warn('two', { token: 'top-secret-9' });
    expect(lines).toHaveLength(2);
    expect(lines.join('')).not.toMatch(/top-secret/);
    expect(JSON.parse(lines[0]!)).toMatchObject({ service: 'x', password: '***', peer: { token: '***' } });
    expect(JSON.parse(lines[1]!)).toMatchObject({ password: '***', token: '***' });
  });

  it('redacts a secret carried by an error', () => {
    const { logger, lines } = capture();
    logger.error('peer refused', { error: Object.assign(new Error('refused'), { password: 'top-secret-6' }) });
    expect(lines.join('')).not.toMatch(/top-secret/);
    expect(JSON.parse(lines[0]!).error).toMatchObject({ message: 'refused', password: '***' });
  });

  it('keeps a field named like a key of the line as field_<key>', () => {
    const { logger, records } = capture();
    logger.info('kept', { message: 'from a field', level: 'x', time: 1 });
    expect(records()[0]).toMatchObject({
      message: 'kept',
      level: 'info',
      field_message: 'from a field',
      field_level: 'x',
      field_time: 1,
    });
  });

  it('honours the level, from the option or $VFS_RELAY_LOG_LEVEL', () => {
    const { logger, records } = capture();
    logger.debug('noise');
    logger.info('kept');
    expect(records().map((r) => r.message)).toEqual(['kept']);

    const previous = process.env.VFS_RELAY_LOG_LEVEL;
    process.env.VFS_RELAY_LOG_LEVEL = 'warn';
    try {
      const fromEnv = capture();
      fromEnv.logger.info('dropped');
      fromEnv.logger.warn('kept');
      expect(fromEnv.records().map((r) => r.message)).toEqual(['kept']);
    } finally {
      if (previous === undefined) delete process.env.VFS_RELAY_LOG_LEVEL;
      else process.env.VFS_RELAY_LOG_LEVEL = previous;
    }
  });

  it('writes a readable line on a terminal: time, level, message, fields, then the stack', () => {
    const lines: string[] = [];
    const logger = new PinoLogger({ sink: { write: (l: string) => lines.push(l), isTTY: true } });
    logger.error('peer unreachable', { peer: 'server2', error: new Error('boom'), password: 'never-shown-6' });
    const text = lines.join('');
    expect(text).toMatch(/^\d\d:\d\d:\d\d\.\d{3} \x1b\[31mERROR\x1b\[0m peer unreachable {2}peer=server2 error="boom"/);
    expect(text).toMatch(/\n {4}Error: boom\n {4}\s*at /);
    expect(text).not.toContain('never-shown-6');
    expect(text).not.toContain('{"level"');

    const plain: string[] = [];
    new PinoLogger({ sink: (l) => void plain.push(l), format: 'pretty' }).info('hello', { n: 1 });
    expect(plain.join('')).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}hello {2}n=1\n$/);
  });

  it('keeps the old JsonLogger constructor (a write function, a level) working on top of it', () => {
    const lines: string[] = [];
    const logger = new JsonLogger((line) => void lines.push(line), 'debug');
    logger.debug('kept', { entryId: 'e1' });
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 'debug',
      message: 'kept',
      entryId: 'e1',
      service: 'vfs-relay',
    });
  });
});
