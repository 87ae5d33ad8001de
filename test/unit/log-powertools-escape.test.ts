import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PowertoolsLogger } from '../../src/observability/powertools-logger.js';

const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]|\p{Cf}/u;

describe('Powertools logger (Lambda): log injection', () => {
  let out: string[];
  beforeEach(() => {
    out = [];
    const capture = (chunk: unknown) => {
      out.push(String(chunk));
      return true;
    };
    vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  });
  afterEach(() => vi.restoreAllMocks());

  it('escapes unsafe characters in nested fields as the pino logger does', () => {
    new PowertoolsLogger().warn('x', { nested: { user: 'invoice\u202etxt.exe \u2028 \u009b31m' } });
    const line = out.join('').trimEnd();
    expect(line).not.toMatch(UNSAFE);
  });

  it('escapes unsafe characters in an error message', () => {
    new PowertoolsLogger().error('job failed', { error: new Error('peer listed invoice\u202etxt.exe') });
    const line = out.join('').trimEnd();
    expect(line).not.toMatch(UNSAFE);
  });
});
