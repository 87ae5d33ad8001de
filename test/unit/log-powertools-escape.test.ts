import { describe, expect, it } from 'vitest';
import { PowertoolsLogger } from '../../src/observability/powertools-logger.js';
import { useCapturedOutput } from '../support/stdio.js';

const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]|\p{Cf}/u;

describe('Powertools logger (Lambda): log injection', () => {
  const output = useCapturedOutput();

  it('escapes unsafe characters in nested fields as the pino logger does', () => {
    new PowertoolsLogger().warn('x', { nested: { user: 'invoice\u202etxt.exe \u2028 \u009b31m' } });
    const line = output().trimEnd();
    expect(line).not.toMatch(UNSAFE);
  });

  it('escapes unsafe characters in an error message', () => {
    new PowertoolsLogger().error('job failed', { error: new Error('peer listed invoice\u202etxt.exe') });
    const line = output().trimEnd();
    expect(line).not.toMatch(UNSAFE);
  });
});
