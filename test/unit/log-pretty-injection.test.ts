import { describe, expect, it } from 'vitest';
import { PinoLogger } from '../../src/adapters/log/pino-logger.js';

/** The pretty (terminal) form must not let a node-supplied path or message write raw controls. */
function prettyLines(tty: boolean) {
  const lines: string[] = [];
  const logger = new PinoLogger({ sink: { write: (l: string) => lines.push(l), isTTY: tty }, format: 'pretty' });
  return { logger, text: () => lines.join('') };
}

describe('pretty logger: log injection', () => {
  it('does not write a raw ESC (ANSI sequence) from a field value', () => {
    const { logger, text } = prettyLines(true);
    // A path a node reported: no whitespace, so prettyLine prints it unquoted.
    logger.info('upload expired: no body activity', { path: '/a\x1b[2J\x1b[1;1Hfake\x1b[8m' });
    expect(text()).not.toContain('\x1b[2J');
  });

  it('does not write a raw ESC or BS from a field value even off a terminal', () => {
    const { logger, text } = prettyLines(false);
    logger.info('x', { user: 'alice\b\b\b\b\bmallory' });
    expect(text()).not.toMatch(/[\b]/);
  });

  it('does not let a message (e.g. a store warning naming a path) forge a second line', () => {
    const { logger, text } = prettyLines(false);
    logger.warn('unreadable entry /a\n12:00:00.000 INFO  relay stopped', { path: '/a' });
    expect(text().split('\n').filter(Boolean)).toHaveLength(1);
  });

  it('does not write a raw ESC from an error message in the stack block', () => {
    const { logger, text } = prettyLines(true);
    logger.error('job failed', { error: new Error('cannot read /x\x1b]0;pwned\x07') });
    expect(text()).not.toContain('\x1b]0;');
  });
});
