import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { z } from 'zod';
import { ConfigError, keyOf } from '../../config/errors.js';

/** Names the Secrets Manager secret holding the relay's tokens and peer passwords (set by infra/). */
export const SECRETS_ARN_ENV = 'VFS_RELAY_SECRETS_ARN';

const relaySecrets = z
  .object({
    adminToken: z.string().min(1).optional(),
    nodeTokens: z.record(z.string(), z.string().min(1)).default({}),
    peerPasswords: z.record(z.string(), z.string().min(1)).default({}),
  })
  .strict();

/** `{ "adminToken": "…", "nodeTokens": { "<node>": "…" }, "peerPasswords": { "<peer>": "…" } }` */
export type RelaySecrets = z.output<typeof relaySecrets>;

/**
 * Reads the secret named by VFS_RELAY_SECRETS_ARN, once per cold start (undefined when the variable is unset).
 * A malformed secret stops the function with a message that names the key, never a value.
 */
export async function readRelaySecrets(
  env: NodeJS.ProcessEnv = process.env,
  client: Pick<SecretsManagerClient, 'send'> = new SecretsManagerClient({}),
): Promise<RelaySecrets | undefined> {
  const arn = env[SECRETS_ARN_ENV];
  if (!arn) return undefined;
  const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: arn }));
  let json: unknown;
  try {
    json = JSON.parse(SecretString ?? '');
  } catch {
    throw new ConfigError(`secret ${SECRETS_ARN_ENV}: the secret value is not JSON`);
  }
  const parsed = relaySecrets.safeParse(json);
  // The issue's code, never its message: a message may quote the value, and the value is a secret.
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`secret ${SECRETS_ARN_ENV}: ${keyOf(issue.path) || '(root)'}: ${issue.code}`);
  }
  return parsed.data;
}

/**
 * The config JSON with the secret's values filled in: `auth.adminToken`, `auth.nodeTokens`, and each peer's and
 * source's `password` by name (`peerPasswords`). A value the config sets itself wins.
 */
export function withSecrets(config: unknown, secrets: RelaySecrets): unknown {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) return config;
  const input = config as { auth?: Record<string, unknown>; peers?: unknown; sources?: unknown };
  const withPassword = (server: { name?: string; password?: unknown }) =>
    server.password === undefined && server.name !== undefined && secrets.peerPasswords[server.name] !== undefined
      ? { ...server, password: secrets.peerPasswords[server.name] }
      : server;
  const auth = input.auth ?? {};
  return {
    ...input,
    auth: {
      ...auth,
      adminToken: auth.adminToken ?? secrets.adminToken,
      nodeTokens: { ...secrets.nodeTokens, ...(auth.nodeTokens as Record<string, unknown> | undefined) },
    },
    peers: Array.isArray(input.peers) ? input.peers.map(withPassword) : input.peers,
    // Sources share the map: names are unique across peers and sources (src/config/sources.ts).
    ...(Array.isArray(input.sources) ? { sources: input.sources.map(withPassword) } : {}),
  };
}
