import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../../src/config/load.js';

const contractExample = {
  listen: { host: '127.0.0.1', port: 8787 },
  journal: './data',
  peers: [
    {
      name: 'server2',
      url: 'https://server2.example.com/',
      username: 'replication',
      password: { env: 'PEER_PASSWORD' },
      pingIntervalSeconds: 60,
    },
  ],
  vfs: [{ path: '/user_homes/', replicate: true }],
  replicationUser: 'replication',
  autoPlay: false,
  auth: { adminToken: { env: 'VFS_RELAY_ADMIN_TOKEN' }, nodeTokens: { 'node-a': { env: 'NODE_A_TOKEN' } } },
};
const env = {
  PEER_PASSWORD: 'pw',
  VFS_RELAY_ADMIN_TOKEN: 'admin-token-0123456789',
  NODE_A_TOKEN: 'node-a-secret-0123456789',
};

describe('config', () => {
  it('accepts the CONTRACT example and resolves env secrets', () => {
    const config = parseConfig(contractExample, env);
    expect(config.peers[0]?.password).toBe('pw');
    expect(config.auth).toEqual({
      adminToken: 'admin-token-0123456789',
      nodeTokens: { 'node-a': 'node-a-secret-0123456789' },
    });
    expect(config.vfs).toEqual([{ path: '/user_homes', replicate: true }]);
    expect(config.replay.concurrency).toBe(8);
    expect(config.peers[0]?.setModifiedTime).toBe(true);
  });

  it('takes setModifiedTime per peer, and only as a boolean', () => {
    const peer = { name: 'apache', url: 'http://127.0.0.1:8080/' };
    expect(parseConfig({ peers: [{ ...peer, setModifiedTime: false }] }, {}).peers[0]?.setModifiedTime).toBe(false);
    expect(() => parseConfig({ peers: [{ ...peer, setModifiedTime: 'no' }] }, {})).toThrow(
      /^config peers\[0\]\.setModifiedTime: /,
    );
  });

  it('takes sources like peers (secrets resolved, no credentials in the URL), names unique across both', () => {
    const source = { name: 'primary', url: 'https://primary.example.com/dav/', password: { env: 'PEER_PASSWORD' } };
    const config = parseConfig({ ...contractExample, sources: [source] }, env);
    expect(config.sources).toEqual([{ name: 'primary', url: 'https://primary.example.com/dav/', password: 'pw' }]);
    expect(parseConfig({}, {}).sources).toEqual([]);
    expect(() => parseConfig({ ...contractExample, sources: [{ ...source, name: 'server2' }] }, env)).toThrow(
      /^config sources\[0\]\.name: "server2" is already the name of a peer or another source/,
    );
    expect(() => parseConfig({ sources: [{ ...source, url: 'https://u:p@h/' }] }, env)).toThrow(
      /^config sources\[0\]\.url: put credentials in username\/password/,
    );
    expect(() => parseConfig({ sources: [{ ...source, password: { env: 'NOPE' } }] }, env)).toThrow(
      /^config sources\[0\]\.password: environment variable NOPE is not set/,
    );
  });

  it('has working built-in defaults', () => {
    const config = parseConfig({}, {});
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 8787 });
    expect(config.journal).toBe('./data');
    expect(config.peers).toEqual([]);
    expect(config.autoPlay).toBe(false);
    expect(config.auth.adminToken).toBeUndefined();
  });

  it.each([
    [{ peers: [{ name: 'x', url: 'not a url' }] }, /^config peers\[0\]\.url: /],
    [{ peers: [{ name: 'x', url: 'https://u:p@h/' }] }, /peers\[0\]\.url: put credentials/],
    [{ peers: [{ name: 'bad name', url: 'https://h/' }] }, /peers\[0\]\.name/],
    [{ peers: [{ name: 'x', url: 'ftp://h/' }] }, /peers\[0\]\.url/],
    [{ peers: [{ name: 'x', url: 'https://h/', pingIntervalSeconds: 0 }] }, /peers\[0\]\.pingIntervalSeconds/],
    [
      {
        peers: [
          { name: 'x', url: 'https://h/' },
          { name: 'x', url: 'https://i/' },
        ],
      },
      /peers: peer names must be unique/,
    ],
    [{ listen: { port: 70000 } }, /listen\.port/],
    [{ vfs: [{ path: '/a/../b' }] }, /vfs\[0\]\.path: .*"\.\."/],
    [{ autoPlay: 'yes' }, /autoPlay/],
    [{ unknownKey: 1 }, /config \(root\): Unrecognized key.*unknownKey/],
  ])('refuses %j naming the key', (input, message) => {
    expect(() => parseConfig(input, {})).toThrow(ConfigError);
    expect(() => parseConfig(input, {})).toThrow(message);
  });

  const cloud = {
    journal: 's3://relay-journal/prod',
    queue: 'https://sqs.eu-west-1.amazonaws.com/123456789012/relay.fifo',
    auth: { adminToken: 'admin-token' },
  };

  it.each([
    [
      { ...cloud, journal: 's3://Relay_Journal/prod' },
      /^config journal: "Relay_Journal" is not a valid S3 bucket name/,
    ],
    [{ ...cloud, journal: 's3://ab' }, /^config journal: "ab" is not a valid S3 bucket name/],
    [{ ...cloud, journal: 's3://relay-journal/a//b' }, /^config journal: the S3 journal prefix .* segment/],
    [
      { ...cloud, queue: 'https://sqs.eu-west-1.amazonaws.com/relay.fifo' },
      /^config queue: .* is not an SQS queue URL/,
    ],
    [{ ...cloud, queue: 'https://sqs.eu-west-1.amazonaws.com/1234/relay' }, /^config queue: an SQS FIFO queue URL/],
    [{ ...cloud, queue: undefined }, /^config queue: an s3:\/\/ journal needs an SQS FIFO queue URL/],
    [{ ...cloud, journal: './data' }, /^config journal: cloud mode needs an s3:\/\/bucket\/prefix journal/],
    [{ ...cloud, auth: {} }, /^config auth\.adminToken: required in cloud mode/],
  ])('refuses the cloud locations of %j naming the key', (input, message) => {
    expect(() => parseConfig(input, {})).toThrow(ConfigError);
    expect(() => parseConfig(input, {})).toThrow(message);
  });

  it('takes the admin token from $VFS_RELAY_ADMIN_TOKEN when the file names none (cloud mode too)', () => {
    const fromEnv = 'admin-token-from-env-0123';
    const own = 'admin-token-of-the-file-0123';
    const config = parseConfig({ ...cloud, auth: {} }, { VFS_RELAY_ADMIN_TOKEN: fromEnv });
    expect(config.auth.adminToken).toBe(fromEnv);
    expect(parseConfig({}, { VFS_RELAY_ADMIN_TOKEN: fromEnv }).auth.adminToken).toBe(fromEnv);
    expect(parseConfig({ auth: { adminToken: own } }, { VFS_RELAY_ADMIN_TOKEN: fromEnv }).auth.adminToken).toBe(own);
    expect(parseConfig({}, { VFS_RELAY_ADMIN_TOKEN: '' }).auth.adminToken).toBeUndefined();
  });

  it('accepts a "$schema" key for editors', () => {
    const config = parseConfig({ $schema: './node_modules/vfs-relay/schema/vfs-relay.config.schema.json' }, {});
    expect(config.journal).toBe('./data');
  });

  it('names the key and the variable when an env secret is missing, without printing any secret', () => {
    expect(() => parseConfig(contractExample, { ...env, PEER_PASSWORD: undefined })).toThrow(
      'config peers[0].password: environment variable PEER_PASSWORD is not set',
    );
    let message = '';
    try {
      parseConfig(contractExample, { ...env, NODE_A_TOKEN: undefined });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/auth\.nodeTokens\.node-a/);
    // None of the secrets that were set (peer password, admin token) appears in the message.
    for (const secret of [env.PEER_PASSWORD, env.VFS_RELAY_ADMIN_TOKEN]) expect(message).not.toContain(secret);
  });

  it.each([
    [{ adminToken: 'short-admin' }, 'config auth.adminToken: the token is shorter than 16 characters (test)'],
    [
      { adminToken: 'a'.repeat(16), nodeTokens: { 'node-a': 'b'.repeat(15) } },
      'config auth.nodeTokens.node-a: the token is shorter than 16 characters (test)',
    ],
    [
      { adminToken: 'a'.repeat(16), nodeTokens: { 'node-a': 'a'.repeat(16) } },
      'config auth.nodeTokens.node-a: the token equals the admin token; give each node a token of its own (test)',
    ],
    [
      // HTTP trims the header: node-b's token would answer to node-a's.
      { nodeTokens: { 'node-a': 'd'.repeat(20), 'node-b': `${'d'.repeat(20)} ` } },
      'config auth.nodeTokens.node-b: the token begins or ends with white space, which no request can carry (test)',
    ],
    [
      { nodeTokens: { 'node-a': 'c'.repeat(20), 'node-b': 'c'.repeat(20) } },
      "config auth.nodeTokens.node-b: the token is also auth.nodeTokens.node-a's; give each node a token of its own (test)",
    ],
  ])('refuses the token table %j with one line naming the key, never the token', (auth, message) => {
    expect(() => parseConfig({ auth }, {}, 'test')).toThrow(new ConfigError(message));
  });

  it('checks tokens named by environment variables too, and VFS_RELAY_ADMIN_TOKEN', () => {
    const auth = { nodeTokens: { 'node-a': { env: 'A' }, 'node-b': { env: 'B' } } };
    expect(() => parseConfig({ auth }, { A: 'x'.repeat(16), B: 'x'.repeat(16) }, 'test')).toThrow(
      /auth\.nodeTokens\.node-b: the token is also/,
    );
    expect(() => parseConfig({}, { VFS_RELAY_ADMIN_TOKEN: 'tiny' }, 'test')).toThrow(/auth\.adminToken: .*shorter/);
    expect(parseConfig({ auth }, { A: 'x'.repeat(16), B: 'y'.repeat(16) }, 'test').auth.nodeTokens).toEqual({
      'node-a': 'x'.repeat(16),
      'node-b': 'y'.repeat(16),
    });
  });

  it('finds the file: --config, then $VFS_RELAY_CONFIG, then ./vfs-relay.config.json, then defaults', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    writeFileSync(join(dir, 'a.json'), JSON.stringify({ journal: '/from-flag' }));
    writeFileSync(join(dir, 'b.json'), JSON.stringify({ journal: '/from-env' }));
    expect(loadConfig('a.json', { VFS_RELAY_CONFIG: 'b.json' }, dir).journal).toBe('/from-flag');
    expect(loadConfig(undefined, { VFS_RELAY_CONFIG: 'b.json' }, dir).journal).toBe('/from-env');
    expect(loadConfig(undefined, {}, dir).source).toBe('built-in defaults');
    writeFileSync(join(dir, 'vfs-relay.config.json'), JSON.stringify({ journal: '/from-cwd' }));
    expect(loadConfig(undefined, {}, dir).journal).toBe('/from-cwd');
    // Empty is unset (`VFS_RELAY_CONFIG= vfs-relay serve`, `--config ""`): the next choice applies.
    expect(loadConfig(undefined, { VFS_RELAY_CONFIG: '' }, dir).journal).toBe('/from-cwd');
    expect(loadConfig('', { VFS_RELAY_CONFIG: 'b.json' }, dir).journal).toBe('/from-env');
    writeFileSync(join(dir, 'broken.json'), '{ nope');
    expect(() => loadConfig('broken.json', {}, dir)).toThrow(/is not valid JSON/);
    expect(() => loadConfig('missing.json', {}, dir)).toThrow(/cannot read .*missing\.json: ENOENT/);
  });
});
