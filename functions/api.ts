import { handle } from 'hono/aws-lambda';
import { IntakeMetrics } from '../src/observability/metrics.js';
import { PowertoolsLogger } from '../src/observability/powertools-logger.js';
import { cloudConfigFromEnv } from '../src/runtime/cloud/env.js';
import { API_PROBE_TIMEOUT_MS, createCloudRelay } from '../src/runtime/cloud/relay.js';
import { readRelaySecrets } from '../src/runtime/cloud/secrets.js';

const metrics = new IntakeMetrics();

/** API Gateway (HTTP API, payload v2) or a Function URL → the relay's Hono app. Built once per cold start. */
export const relay = createCloudRelay(cloudConfigFromEnv(process.env, await readRelaySecrets()), {
  logger: new PowertoolsLogger(),
  onIgnored: (reason, node) => metrics.recordIgnored(reason, node),
  probeTimeoutMs: API_PROBE_TIMEOUT_MS,
});
const app = handle(relay.app);
export const handler: typeof app = async (event, context) => {
  try {
    return await app(event, context);
  } finally {
    metrics.publish(); // IGNORED answers, ECHO per node (EMF)
  }
};
