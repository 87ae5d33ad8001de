import { describe, expect, it } from 'vitest';
import { cloudConfigFromEnv } from '../../src/runtime/cloud/env.js';
import { readRelaySecrets, withSecrets } from '../../src/runtime/cloud/secrets.js';

const CONFIG = {
  journal: 's3://bucket/prefix',
  queue: 'https://sqs.eu-west-1.amazonaws.com/123456789012/relay.fifo',
  peers: [
    { name: 'server2', url: 'https://server2.example.com/', username: 'replication' },
    { name: 'server3', url: 'https://server3.example.com/', username: 'replication', password: 'inline' },
  ],
};

describe('relay secrets at cold start', () => {
  it('fills tokens and peer passwords from the secret; values in the config win', () => {
    const secrets = {
      adminToken: 'admin-token-0123456789',
      nodeTokens: { 'node-a': 'node-a-token-0123456789' },
      peerPasswords: { server2: 'pw2', server3: 'ignored' },
    };
    const config = cloudConfigFromEnv({ VFS_RELAY_CONFIG_JSON: JSON.stringify(CONFIG) }, secrets);
    expect(config.auth).toEqual({
      adminToken: 'admin-token-0123456789',
      nodeTokens: { 'node-a': 'node-a-token-0123456789' },
    });
    expect(config.peers.map((p) => p.password)).toEqual(['pw2', 'inline']);
    expect(withSecrets('not an object', secrets)).toBe('not an object');
  });

  it('reads nothing without VFS_RELAY_SECRETS_ARN, and names the key (never a value) of a malformed secret', async () => {
    expect(await readRelaySecrets({})).toBeUndefined();
    const client = (value: string) => ({ send: async () => ({ SecretString: value }) }) as never;
    const env = { VFS_RELAY_SECRETS_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:relay' };
    await expect(readRelaySecrets(env, client('not json'))).rejects.toThrow('the secret value is not JSON');
    const bad = readRelaySecrets(env, client(JSON.stringify({ adminToken: 'top-secret', nodeTokens: { a: 7 } })));
    await expect(bad).rejects.toThrow(/nodeTokens\.a/);
    await expect(
      readRelaySecrets(env, client(JSON.stringify({ adminToken: 'top-secret', extra: 1 }))),
    ).rejects.not.toThrow(/top-secret/);
    expect(await readRelaySecrets(env, client(JSON.stringify({ adminToken: 'a' })))).toEqual({
      adminToken: 'a',
      nodeTokens: {},
      peerPasswords: {},
    });
  });
});
