// A relay in a child process, for tests that SIGKILL it. Usage: crash-child.ts <journal> <config-json>
import '../../src/runtime/threadpool.js';
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
const relay = await startEmbeddedRelay(config, { logger: silentLogger });
readyUntilSignal(relay.url, () => relay.close());
