import { handle } from 'hono/aws-lambda';
import { cloudConfigFromEnv } from '../src/runtime/cloud/env.js';
import { createCloudRelay } from '../src/runtime/cloud.js';

/** API Gateway (HTTP API, payload v2) or a Function URL → the relay's Hono app. Built once per cold start. */
export const relay = createCloudRelay(cloudConfigFromEnv());
export const handler = handle(relay.app);
