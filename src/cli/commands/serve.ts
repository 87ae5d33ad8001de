import { loadConfig } from '../../config/load.js';
import { isCloudMode } from '../../config/schema.js';

/**
 * `vfs-relay serve`: API + replayer + pinger in one process until SIGINT/SIGTERM. An s3:// journal or a `queue`
 * selects cloud mode (S3 journal, SQS FIFO doorbell, the Lambda functions' code on Node).
 */
export async function serve(options: { config?: string }): Promise<void> {
  const config = loadConfig(options.config);
  // Each mode's code is loaded only when it runs: the embedded relay never loads the AWS SDK.
  const relay = isCloudMode(config)
    ? await (await import('../../runtime/cloud/serve.js')).startCloudServe(config)
    : await (await import('../../runtime/embedded.js')).startEmbeddedRelay(config);
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
