import { describe, expect, it, vi } from 'vitest';
import { PinoLogger } from '../../src/adapters/log/pino-logger.js';
import { PowertoolsLogger } from '../../src/observability/powertools-logger.js';

/**
 * undici rejects an aborted request (AbortController, AbortSignal.timeout) with a DOMException, whose name and
 * message are prototype getters that throw on any other object: the loggers' copy of an error (loggableError) must
 * read them from the error itself, or logging an abort throws out of logger.warn/error.
 */
describe('logging a DOMException (undici rejects an aborted request with one)', () => {
  for (const error of [
    new DOMException('This operation was aborted', 'AbortError'),
    new Error('request failed', { cause: new DOMException('The operation timed out', 'TimeoutError') }),
  ]) {
    it(`pino: does not throw and writes the message (${error.message})`, () => {
      const lines: string[] = [];
      const log = new PinoLogger({ sink: (l) => void lines.push(l), format: 'json' });
      expect(() => log.warn('replay failed', { error })).not.toThrow();
      expect(lines.join('')).toContain(error.message);
    });
    it(`powertools (Lambda): does not throw and writes the message (${error.message})`, () => {
      const written: string[] = [];
      const spies = [vi.spyOn(process.stdout, 'write'), vi.spyOn(process.stderr, 'write')];
      for (const spy of spies) spy.mockImplementation((chunk: unknown) => written.push(String(chunk)) > 0);
      try {
        expect(() => new PowertoolsLogger().warn('replay failed', { error })).not.toThrow();
      } finally {
        for (const spy of spies) spy.mockRestore();
      }
      expect(written.join('')).toContain(error.message);
    });
  }
});

/** "secret-named fields redacted at any depth (causes …)": past loggableError's depth 4 the raw error is logged. */
describe('a deep cause chain', () => {
  const chain = (wraps: number) => {
    let error: Error = Object.assign(new Error('SignatureDoesNotMatch'), {
      CanonicalRequest: 'x-amz-security-token:SESSION-TOKEN-SECRET',
      token: 'NODE-TOKEN-SECRET',
    });
    for (let i = 0; i < wraps; i++) error = new Error(`wrap ${i}`, { cause: error });
    return error;
  };
  it('pino: no secret from the fifth cause', () => {
    const lines: string[] = [];
    new PinoLogger({ sink: (l) => void lines.push(l), format: 'json' }).error('failed', { error: chain(5) });
    expect(lines.join('')).not.toMatch(/SECRET/);
  });
  it('powertools (Lambda): no secret from the fifth error of the chain', () => {
    const written: string[] = [];
    const capture = (chunk: unknown) => {
      written.push(String(chunk));
      return true;
    };
    const spies = [vi.spyOn(process.stdout, 'write'), vi.spyOn(process.stderr, 'write')];
    for (const spy of spies) spy.mockImplementation(capture);
    try {
      new PowertoolsLogger().error('failed', { error: chain(4) });
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    expect(written.join('')).toContain('wrap 3');
    expect(written.join('')).not.toMatch(/SECRET/);
  });
});
