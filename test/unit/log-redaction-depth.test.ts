import { describe, expect, it } from 'vitest';
import { PinoLogger } from '../../src/adapters/log/pino-logger.js';
import { PowertoolsLogger } from '../../src/observability/powertools-logger.js';
import { useCapturedOutput } from '../support/stdio.js';

function capture() {
  const lines: string[] = [];
  const logger = new PinoLogger({ sink: (line) => void lines.push(line), format: 'json' });
  return { logger, text: () => lines.join('') };
}

describe('pino logger: secrets in error cause chains', () => {
  it('redacts a secret on an error that is the cause of the logged one', () => {
    const { logger, text } = capture();
    const inner = Object.assign(new Error('refused'), { password: 'top-secret-cause-1' });
    logger.error('ping failed', { error: new Error('ping failed', { cause: inner }) });
    expect(text()).not.toContain('top-secret-cause-1');
  });

  it('redacts the authorization header of a request carried by a cause', () => {
    const { logger, text } = capture();
    const inner = Object.assign(new Error('401'), { headers: { authorization: 'Basic dG9wLXNlY3JldA==' } });
    logger.error('job failed', { error: new Error('job failed', { cause: inner }) });
    expect(text()).not.toContain('dG9wLXNlY3JldA==');
  });
});

describe('Powertools logger (Lambda): secrets on errors', () => {
  const output = useCapturedOutput();

  it('redacts a secret carried by an error, as the pino logger does', () => {
    new PowertoolsLogger().error('peer refused', {
      error: Object.assign(new Error('refused'), { password: 'top-secret-pt-1' }),
    });
    const text = output();
    expect(text).toContain('refused');
    expect(text).not.toContain('top-secret-pt-1');
  });

  it('redacts secrets inside an array field', () => {
    new PowertoolsLogger().warn('peers', { peers: [{ name: 'p', password: 'top-secret-pt-2' }] });
    const text = output();
    expect(text).toContain('"name":"p"');
    expect(text).not.toContain('top-secret-pt-2');
  });
});
