import { handle } from 'hono/aws-lambda';
import { PowertoolsLogger } from '../src/observability/powertools-logger.js';
import { cloudConfigFromEnv } from '../src/runtime/cloud/env.js';
import { readRelaySecrets } from '../src/runtime/cloud/secrets.js';
import { createCloudRelay } from '../src/runtime/cloud.js';

/** API Gateway (HTTP API, payload v2) or a Function URL → the relay's Hono app. Built once per cold start. */
export const relay = createCloudRelay(cloudConfigFromEnv(process.env, await readRelaySecrets()), {
  logger: new PowertoolsLogger(),
});
export const handler = handle(relay.app);
