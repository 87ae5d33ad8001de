import { createInterface } from 'node:readline';
import { acquireProcessLock } from '../../src/adapters/process-lock/index.js';

/**
 * A process that takes locks when told, for tests that need a real second (or fifth) process: reads lines
 * `lock FILE` (answers `WON <pid>` or `LOST <message>`) and `release` (answers `RELEASED`).
 */
class Lost extends Error {}

const releases: (() => Promise<void>)[] = [];
const lines = createInterface({ input: process.stdin });
lines.on('line', async (line) => {
  const [command, file] = line.split(' ');
  if (command === 'lock') {
    try {
      releases.push(await acquireProcessLock(file!, { what: 'the test folder', locked: (m) => new Lost(m) }));
      process.stdout.write(`WON ${process.pid}\n`);
    } catch (error) {
      process.stdout.write(`LOST ${(error as Error).message}\n`);
    }
  } else if (command === 'release') {
    for (const release of releases.splice(0)) await release();
    process.stdout.write('RELEASED\n');
  }
});
lines.on('close', () => process.exit(0));
process.stdout.write(`READY ${process.pid}\n`);
