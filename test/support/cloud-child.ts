// `vfs-relay serve` in cloud mode in a child process, for tests that SIGKILL it.
// Usage: cloud-child.ts <config-json> <S3/SQS endpoint> [<entry claims options as JSON: ttlMs, clockSlackMs>]
import '../../src/runtime/threadpool.js';
import { parseConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/core/logger.js';
import { startCloudServe } from '../../src/runtime/cloud/serve.js';
import { readyUntilSignal } from './child-main.js';

const [configJson, endpoint, claims] = process.argv.slice(2);
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
const relay = await startCloudServe(parseConfig(JSON.parse(configJson!), process.env, 'cloud-child'), {
  logger: silentLogger,
  s3: { endpoint, region: 'us-east-1', forcePathStyle: true, credentials },
  sqs: { endpoint, region: 'us-east-1', credentials },
  poller: { waitTimeSeconds: 1 },
  ...(claims && { claims: JSON.parse(claims) }),
});
readyUntilSignal(relay.url, () => relay.close());
