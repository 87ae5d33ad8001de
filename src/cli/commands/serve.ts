import { loadConfig } from '../../config/load.js';
import { startEmbeddedRelay } from '../../runtime/embedded.js';

/** `vfs-relay serve`: API + replayer + pinger in one process until SIGINT/SIGTERM. */
export async function serve(options: { config?: string }): Promise<void> {
  const config = loadConfig(options.config);
  const relay = await startEmbeddedRelay(config);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await relay.close();
}
