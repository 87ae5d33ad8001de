import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { z } from 'zod';
import { RelayError } from '../core/errors.js';
import { configSchema, type ParsedConfig, type SecretSource } from './schema.js';

/** The configuration is missing, unreadable or invalid; the message names the key. */
export class ConfigError extends RelayError {
  readonly code = 'BAD_CONFIG';
}

export interface PeerConfig {
  name: string;
  url: string;
  username?: string;
  password?: string;
  node?: string;
  pingIntervalSeconds: number;
  setModifiedTime: boolean;
}

/** The validated configuration with every secret resolved. Created once at start-up. */
export interface RelayConfig extends Omit<ParsedConfig, 'peers' | 'auth'> {
  peers: PeerConfig[];
  auth: { adminToken?: string; nodeTokens: Record<string, string> };
  /** Where the configuration came from, for messages ("built-in defaults" or a file path). */
  source: string;
}

export const DEFAULT_CONFIG_FILE = 'vfs-relay.config.json';

/** Finds the config: `--config FILE`, else `$VFS_RELAY_CONFIG`, else `./vfs-relay.config.json`, else defaults. */
export function loadConfig(
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): RelayConfig {
  const chosen =
    file ?? env.VFS_RELAY_CONFIG ?? (existsSync(resolve(cwd, DEFAULT_CONFIG_FILE)) ? DEFAULT_CONFIG_FILE : undefined);
  if (!chosen) return parseConfig({}, env, 'built-in defaults');
  const path = resolve(cwd, chosen);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`config: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config: ${path} is not valid JSON: ${(error as Error).message}`);
  }
  return parseConfig(json, env, path);
}

export function parseConfig(input: unknown, env: NodeJS.ProcessEnv = process.env, source = 'config'): RelayConfig {
  const result = configSchema.safeParse(input);
  if (!result.success) throw new ConfigError(describe(result.error, source));
  const parsed = result.data;
  const resolveSecret = (value: SecretSource | undefined, key: string): string | undefined => {
    if (value === undefined || typeof value === 'string') return value;
    const found = env[value.env];
    if (!found) throw new ConfigError(`config ${key}: environment variable ${value.env} is not set (${source})`);
    return found;
  };
  const nodeTokens: Record<string, string> = {};
  for (const [node, token] of Object.entries(parsed.auth.nodeTokens)) {
    nodeTokens[node] = resolveSecret(token, `auth.nodeTokens.${node}`)!;
  }
  return {
    ...parsed,
    peers: parsed.peers.map((peer, i) => ({
      ...peer,
      password: resolveSecret(peer.password, `peers[${i}].password`),
    })),
    auth: {
      adminToken: resolveSecret(parsed.auth.adminToken, 'auth.adminToken') ?? env.VFS_RELAY_ADMIN_TOKEN ?? undefined,
      nodeTokens,
    },
    source,
  };
}

/** "config peers[0].url: Invalid URL (FILE)" — one line naming the first bad key. */
function describe(error: z.ZodError, source: string): string {
  const issue = error.issues[0]!;
  const key = issue.path.reduce<string>(
    (acc, part) => (typeof part === 'number' ? `${acc}[${part}]` : acc ? `${acc}.${String(part)}` : String(part)),
    '',
  );
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more)` : '';
  return `config ${key || '(root)'}: ${issue.message} (${source})${more}`;
}
