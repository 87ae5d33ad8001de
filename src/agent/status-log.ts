import type { Logger } from '../core/logger.js';
import type { AgentStatus } from './agent.js';

/**
 * Logs the agent's status line every `intervalMs` while there is something to say: work queued or in detection,
 * changes set aside, or counts that moved since the last line (an idle agent with nothing set aside stays quiet).
 * With changes set aside the line is a warning that says how to list them. Returns the function that stops it.
 */
export function logStatusEvery(
  intervalMs: number,
  status: () => AgentStatus,
  logger: Logger,
  stateDir: string,
): () => void {
  if (!(intervalMs > 0)) return () => {};
  let last = '';
  const timer = setInterval(() => {
    const now = status();
    const text = JSON.stringify(now);
    const busy = now.queued > 0 || now.detecting > 0 || now.refused > 0;
    if (!busy && text === last) return;
    last = text;
    if (now.refused > 0) {
      logger.warn('agent status', { ...now, list: `vfs-relay agent refused --state ${stateDir}` });
    } else logger.info('agent status', { ...now });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
