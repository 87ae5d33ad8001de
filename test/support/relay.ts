import { parseConfig, type RelayConfig } from '../../src/config/load.js';
import type { ConfigFile } from '../../src/config/schema.js';
import { silentLogger } from '../../src/core/logger.js';
import { type EmbeddedRelay, startEmbeddedRelay } from '../../src/runtime/embedded.js';
import { tempDir } from './tmp.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';
export const NODE_A_TOKEN = 'test-node-a-token-0123456789';
export const NODE_B_TOKEN = 'test-node-b-token-0123456789';

export interface TestRelay {
  relay: EmbeddedRelay;
  config: RelayConfig;
  url: string;
  /** The folder holding `multi_journal/`. */
  journal: string;
  close(): Promise<void>;
}

/** A relay on a free loopback port with a temporary journal and known tokens. */
export async function startTestRelay(overrides: Partial<ConfigFile> = {}, journal?: string): Promise<TestRelay> {
  const tmp = journal ? undefined : await tempDir();
  const dir = journal ?? tmp!.dir;
  const config = parseConfig(
    {
      listen: { host: '127.0.0.1', port: 0 },
      journal: dir,
      vfs: [{ path: '/user_homes', replicate: true }],
      auth: { adminToken: ADMIN_TOKEN, nodeTokens: { 'node-a': NODE_A_TOKEN, 'node-b': NODE_B_TOKEN } },
      ...overrides,
    },
    {},
    'test',
  );
  const relay = await startEmbeddedRelay(config, { logger: silentLogger });
  return {
    relay,
    config,
    url: relay.url,
    journal: dir,
    close: async () => {
      await relay.close();
      await tmp?.remove();
    },
  };
}

export function auth(token: string, extra: Record<string, string> = {}): Record<string, string> {
  return { authorization: `Bearer ${token}`, ...extra };
}

export const jsonHeaders = (token: string) => auth(token, { 'content-type': 'application/json' });
