import { findConfig, resolveSecrets, validateConfig } from '../../config/load.js';
import { maskSecrets } from '../../config/mask.js';
import { configSchema } from '../../config/schema.js';

/**
 * `vfs-relay config check [--config FILE]`: finds and validates the config as `serve` would (secrets named by
 * environment variables must be set), starts nothing, and prints the effective configuration — defaults filled
 * in, secrets masked. A bad config throws the ConfigError `serve` would stop with (one line, exit 1).
 */
export function configCheck(options: { config?: string }): void {
  const { input, source } = findConfig(options.config);
  const parsed = validateConfig(input, process.env, source);
  resolveSecrets(parsed, process.env, source); // only to refuse an unset variable; the values are not printed
  process.stdout.write(`${JSON.stringify(maskSecrets(configSchema, parsed), null, 2)}\n`);
  process.stderr.write(`vfs-relay: config OK (${source})\n`);
}
