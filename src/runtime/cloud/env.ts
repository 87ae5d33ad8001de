import { configKey, keyOf } from '../../config/errors.js';
import { ConfigError, parseConfig, type RelayConfig } from '../../config/load.js';
import { cloudModeProblems, isCloudMode } from '../../config/schema.js';
import { jsonErrorWhere } from '../../core/json-error.js';
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
  } catch {
    throw new ConfigError(`config: ${CONFIG_ENV} is not valid JSON (${jsonErrorWhere(text)})`);
  }
  const config = parseConfig(secrets ? withSecrets(json, secrets) : json, env, CONFIG_ENV);
  checkCloudConfig(config); // the functions run cloud mode only: a config without an s3:// journal is refused
  return config;
}

/** True when the configuration asks for cloud mode (an S3 journal or an SQS queue). */
export const isCloudConfig = isCloudMode;

/**
 * Cloud mode needs both halves and an admin token (the rule is config/schema.ts's cloudModeProblems); the
 * functions and createCloudRelay run cloud mode only, so an embedded config is refused here too.
 */
export function checkCloudConfig(config: RelayConfig): void {
  const [problem] = cloudModeProblems(config, true);
  if (problem) throw new ConfigError(`${configKey(keyOf(problem.path))}: ${problem.message} (${config.source})`);
}
