import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/load.js';
import { CONFIG_ENV, cloudConfigFromEnv, isCloudConfig } from '../../src/runtime/cloud/env.js';

const base = {
  journal: 's3://relay-bucket/prod',
  queue: 'https://sqs.eu-west-1.amazonaws.com/123456789012/relay.fifo',
  peers: [{ name: 'server2', url: 'https://server2.example.com/', password: { env: 'PEER_PASSWORD' } }],
  auth: { adminToken: { env: 'ADMIN' } },
};

const env = (config: unknown, extra: Record<string, string> = {}) => ({
  [CONFIG_ENV]: JSON.stringify(config),
  PEER_PASSWORD: 'pw',
  ADMIN: 'admin-token-0123456789',
  ...extra,
});

describe('Lambda configuration from the environment', () => {
  it('parses the config JSON and resolves secrets named by environment variables', () => {
    const config = cloudConfigFromEnv(env(base));
    expect(config.peers[0]!.password).toBe('pw');
    expect(config.auth.adminToken).toBe('admin-token-0123456789');
    expect(config.source).toBe(CONFIG_ENV);
    expect(isCloudConfig(config)).toBe(true);
  });

  it('stops with one line naming what is missing or wrong', () => {
    expect(() => cloudConfigFromEnv({})).toThrow(new RegExp(`${CONFIG_ENV} is not set`));
    expect(() => cloudConfigFromEnv({ [CONFIG_ENV]: '{' })).toThrow(/not valid JSON/);
    expect(() => cloudConfigFromEnv(env(base, { PEER_PASSWORD: '' }))).toThrow(/peers\[0\]\.password.*PEER_PASSWORD/);
    expect(() => cloudConfigFromEnv(env({ ...base, journal: './data' }))).toThrow(/config journal: .*s3:\/\//);
    expect(() => cloudConfigFromEnv(env({ ...base, queue: undefined }))).toThrow(/config queue:/);
    expect(() =>
      cloudConfigFromEnv(env({ ...base, queue: 'https://sqs.eu-west-1.amazonaws.com/123456789012/relay' })),
    ).toThrow(/config queue: an SQS FIFO queue URL \(the name ends in .fifo\)/);
    expect(() => cloudConfigFromEnv(env({ ...base, auth: {} }))).toThrow(/auth\.adminToken: required/);
    expect(() => cloudConfigFromEnv({})).toThrow(ConfigError);
  });

  it('tells cloud mode from the embedded relay', () => {
    expect(isCloudConfig({ journal: './data', queue: undefined })).toBe(false);
    expect(isCloudConfig({ journal: 's3://b/p', queue: undefined })).toBe(true);
  });
});
