// An agent in its own process, for benchmarks and kill tests. Usage: agent-child.ts <options-json>
// With `reportJournaled: true` in the options, prints `journaled <epoch ms> <vfs path>` as each upload is detected
// and handed to the outbox (bench:e2e's breakdown of where the time goes).
import { type AgentOptions, runAgent } from '../../src/agent/index.js';
import { silentLogger } from '../../src/core/logger.js';
import { readyUntilSignal } from './child-main.js';

const { reportJournaled, ...options } = JSON.parse(process.argv[2]!) as AgentOptions & { reportJournaled?: boolean };
const logger = reportJournaled
  ? {
      ...silentLogger,
      debug: (message: string, fields: Record<string, unknown> = {}) => {
        if (message === 'change detected' && fields.action === 'upload') {
          process.stdout.write(`journaled ${Date.now()} ${options.vfs}${String(fields.path)}\n`);
        }
      },
    }
  : undefined;
const handle = await runAgent({ ...options, logger });
readyUntilSignal(handle.stateDir, () => handle.close());
