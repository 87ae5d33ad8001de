import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { jsonErrorWhere } from '../core/json-error.js';
import { ConfigError, configKey, describeIssues } from './errors.js';
import { configSchema, type ParsedConfig, type SecretSource } from './schema.js';
import { tokenTableProblem } from './token-table.js';

export { ConfigError } from './errors.js';

export interface PeerConfig {
  name: string;
  url: string;
  username?: string;
  password?: string;
  node?: string;
  pingIntervalSeconds: number;
  setModifiedTime: boolean;
}

/** A read-only WebDAV view of a primary (`sources`), with its secret resolved. */
export interface SourceConfig {
  name: string;
  url: string;
  username?: string;
  password?: string;
}

/** The validated configuration with every secret resolved. Created once at start-up. */
export interface RelayConfig extends Omit<ParsedConfig, 'peers' | 'sources' | 'auth'> {
  peers: PeerConfig[];
  sources: SourceConfig[];
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
  const { input, source } = findConfig(file, env, cwd);
  return parseConfig(input, env, source);
}

/** The config file's JSON (`{}` for the built-in defaults) and where it came from, before any check. */
export function findConfig(
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): { input: unknown; source: string } {
  // An empty --config or VFS_RELAY_CONFIG names no file (a shell's `VFS_RELAY_CONFIG=`): the next choice applies.
  const chosen =
    nonEmpty(file) ??
    nonEmpty(env.VFS_RELAY_CONFIG) ??
    (existsSync(resolve(cwd, DEFAULT_CONFIG_FILE)) ? DEFAULT_CONFIG_FILE : undefined);
  if (!chosen) return { input: {}, source: 'built-in defaults' };
  const path = resolve(cwd, chosen);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`config: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  try {
    return { input: JSON.parse(text), source: path };
  } catch {
    throw new ConfigError(`config: ${path} is not valid JSON (${jsonErrorWhere(text)})`);
  }
}

/** Validates the config and reads every secret: the configuration a relay starts with. */
export function parseConfig(input: unknown, env: NodeJS.ProcessEnv = process.env, source = 'config'): RelayConfig {
  return resolveSecrets(validateConfig(input, env, source), env, source);
}

/** The admin token's documented default: `$VFS_RELAY_ADMIN_TOKEN` when the file names none. */
export const ADMIN_TOKEN_ENV = 'VFS_RELAY_ADMIN_TOKEN';

/**
 * Checks the config against the schema (with defaults filled in) without resolving any secret: what
 * `vfs-relay config check` prints. A missing `auth.adminToken` becomes `{ "env": "VFS_RELAY_ADMIN_TOKEN" }` when
 * that variable is set, so the schema's rules (cloud mode needs an admin token) see the token start-up will use.
 */
export function validateConfig(input: unknown, env: NodeJS.ProcessEnv = process.env, source = 'config'): ParsedConfig {
  const result = configSchema.safeParse(withAdminTokenDefault(input, env));
  if (!result.success) throw new ConfigError(describeIssues(result.error, configKey, source));
  return result.data;
}

function withAdminTokenDefault(input: unknown, env: NodeJS.ProcessEnv): unknown {
  if (!env[ADMIN_TOKEN_ENV] || typeof input !== 'object' || input === null || Array.isArray(input)) return input;
  const { auth } = input as { auth?: unknown };
  if (auth !== undefined && (typeof auth !== 'object' || auth === null || Array.isArray(auth))) return input;
  if ((auth as { adminToken?: unknown } | undefined)?.adminToken !== undefined) return input;
  return { ...input, auth: { ...(auth as object | undefined), adminToken: { env: ADMIN_TOKEN_ENV } } };
}

/** The validated config with every secret read: a `{ "env": "NAME" }` whose variable is unset names its key. */
export function resolveSecrets(parsed: ParsedConfig, env: NodeJS.ProcessEnv, source: string): RelayConfig {
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
  const auth = { adminToken: resolveSecret(parsed.auth.adminToken, 'auth.adminToken'), nodeTokens };
  const problem = tokenTableProblem(auth);
  if (problem) throw new ConfigError(`config ${problem.key}: ${problem.message} (${source})`);
  return {
    ...parsed,
    peers: parsed.peers.map((peer, i) => ({
      ...peer,
      password: resolveSecret(peer.password, `peers[${i}].password`),
    })),
    sources: parsed.sources.map((source, i) => ({
      ...source,
      password: resolveSecret(source.password, `sources[${i}].password`),
    })),
    auth,
    source,
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}
