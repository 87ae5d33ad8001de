import { loadConfig } from '../../config/load.js';
import { isCloudConfig } from '../../runtime/cloud/env.js';
import { startCloudServe } from '../../runtime/cloud.js';
import { startEmbeddedRelay } from '../../runtime/embedded.js';

/**
 * `vfs-relay serve`: API + replayer + pinger in one process until SIGINT/SIGTERM. An s3:// journal or a `queue`
 * selects cloud mode (S3 journal, SQS FIFO doorbell, the Lambda functions' code on Node).
 */
export async function serve(options: { config?: string }): Promise<void> {
  const config = loadConfig(options.config);
  const relay = isCloudConfig(config) ? await startCloudServe(config) : await startEmbeddedRelay(config);
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
