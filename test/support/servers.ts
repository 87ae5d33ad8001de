import { describe } from 'vitest';

/**
 * Integration suites need real servers (Apache httpd + mod_dav, moto_server). On a laptop without them the suite
 * is skipped with a loud message; under CI=true a missing server fails the run, so CI never passes by skipping.
 */
export function describeWithServer(server: string, available: boolean, name: string, body: () => void): void {
  if (!available) {
    if (process.env.CI === 'true') {
      describe(name, () => {
        throw new Error(`${server} is required under CI=true but was not found (see .ci/run)`);
      });
      return;
    }
    console.warn(`\n*** SKIPPING "${name}": ${server} not found. Install it (see .ci/run) to run this suite. ***\n`);
    describe.skip(name, body);
    return;
  }
  describe(name, body);
}
