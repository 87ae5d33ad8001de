// An agent in its own process, for benchmarks and kill tests. Usage: agent-child.ts <options-json>
import { runAgent } from '../../src/agent/index.js';

const handle = await runAgent(JSON.parse(process.argv[2]!));
process.stdout.write(`READY ${handle.outboxDir}\n`);
const stop = async () => {
  await handle.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
