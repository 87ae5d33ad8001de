import { afterEach, beforeEach, vi } from 'vitest';

/**
 * For the tests of a describe block: what the process writes to stdout and stderr (the Lambda logger writes through
 * `console`), kept instead of printed. Returns what was written since the test began.
 */
export function useCapturedOutput(): () => string {
  let out: string[] = [];
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
  return () => out.join('');
}
