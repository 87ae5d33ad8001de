// A relay in a child process, for tests that SIGKILL it. Usage: crash-child.ts <journal> <config-json>
import '../../src/runtime/threadpool.js';
import { openSync, writeSync } from 'node:fs';
import { PinoLogger } from '../../src/adapters/log/pino-logger.js';
import { parseConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/logger.js';
import { startEmbeddedRelay } from '../../src/runtime/embedded.js';
import { readyUntilSignal } from './child-main.js';

const [journal, overrides] = process.argv.slice(2);
const config = parseConfig(
  {
    listen: { host: '127.0.0.1', port: 0 },
    journal,
    ...(overrides ? JSON.parse(overrides) : {}),
  },
  process.env,
  'crash-child',
);
// VFS_RELAY_CHILD_LOG=<file>: the relay's own log, as `serve` writes it (JSON lines at info, written as they come,
// like stdout into a file or a pipe), appended there; without it the child logs nothing.
const logFile = process.env.VFS_RELAY_CHILD_LOG;
const logger = logFile
  ? new PinoLogger({ sink: writer(openSync(logFile, 'a')), format: 'json', level: 'info' })
  : silentLogger;
const relay = await startEmbeddedRelay(config, { logger });
readyUntilSignal(relay.url, () => relay.close());

function writer(fd: number): (line: string) => void {
  return (line) => {
    writeSync(fd, line);
  };
}
