import { ConfigError, parseConfig, type RelayConfig } from '../../config/load.js';
import { type RelaySecrets, withSecrets } from './secrets.js';

/** The Lambda functions' configuration: the config file's JSON, secrets as `{ "env": "NAME" }` beside it. */
export const CONFIG_ENV = 'VFS_RELAY_CONFIG_JSON';

/**
 * Reads and validates the configuration once per cold start; a bad one stops the function with one clear line.
 * `secrets` (from readRelaySecrets) fills the tokens and peer passwords the deployed config leaves out.
 */
export function cloudConfigFromEnv(env: NodeJS.ProcessEnv = process.env, secrets?: RelaySecrets): RelayConfig {
  const text = env[CONFIG_ENV];
  if (!text) throw new ConfigError(`config: ${CONFIG_ENV} is not set (it holds the relay's configuration as JSON)`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config: ${CONFIG_ENV} is not valid JSON: ${(error as Error).message}`);
  }
  const config = parseConfig(secrets ? withSecrets(json, secrets) : json, env, CONFIG_ENV);
  checkCloudConfig(config);
  return config;
}

/** True when the configuration asks for cloud mode (an S3 journal or an SQS queue). */
export function isCloudConfig(config: Pick<RelayConfig, 'journal' | 'queue'>): boolean {
  return config.journal.startsWith('s3://') || config.queue !== undefined;
}

/** Cloud mode needs both halves and an admin token: there is no local folder to keep a generated one in. */
export function checkCloudConfig(config: RelayConfig): void {
  if (!config.journal.startsWith('s3://')) {
    throw new ConfigError(`config journal: cloud mode needs an s3://bucket/prefix journal (${config.source})`);
  }
  if (!config.queue) {
    throw new ConfigError(`config queue: an s3:// journal needs an SQS FIFO queue URL in "queue" (${config.source})`);
  }
  if (!new URL(config.queue).pathname.endsWith('.fifo')) {
    throw new ConfigError(
      `config queue: ${config.queue} is not a FIFO queue (its name must end in .fifo) (${config.source})`,
    );
  }
  if (!config.auth.adminToken) {
    throw new ConfigError(
      `config auth.adminToken: required in cloud mode (set it, or VFS_RELAY_ADMIN_TOKEN) (${config.source})`,
    );
  }
}
