// An agent in its own process, for benchmarks and kill tests. Usage: agent-child.ts <options-json>
import { runAgent } from '../../src/agent/index.js';
import { readyUntilSignal } from './child-main.js';

const handle = await runAgent(JSON.parse(process.argv[2]!));
readyUntilSignal(handle.stateDir, () => handle.close());
