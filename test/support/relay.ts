import { parseConfig, type RelayConfig } from '../../src/config/load.js';
import type { ConfigFile } from '../../src/config/schema.js';
import { silentDoorbell } from '../../src/core/doorbell.js';
import { type Logger, silentLogger } from '../../src/core/logger.js';
import { type EmbeddedOptions, type EmbeddedRelay, startEmbeddedRelay } from '../../src/runtime/embedded.js';
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
export interface TestRelayOptions {
  /** Reuse this journal folder (a restart); default a new temporary one, removed on close. */
  journal?: string;
  /** false: journal only, replay nothing (tests of ingestion that need a journal nobody else writes). */
  replay?: boolean;
  onReplay?: EmbeddedOptions['onReplay'];
  /** Default: nothing is logged. */
  logger?: Logger;
  /** The relay's clock for change times and upload expiry (default: the system clock). */
  now?: EmbeddedOptions['now'];
  /** How start-up reports its progress through the journal (a test can hold it there). */
  loadProgress?: EmbeddedOptions['loadProgress'];
}

export async function startTestRelay(
  overrides: Partial<ConfigFile> = {},
  options: TestRelayOptions = {},
): Promise<TestRelay> {
  const tmp = options.journal ? undefined : await tempDir();
  const dir = options.journal ?? tmp!.dir;
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
  const relay = await startEmbeddedRelay(config, {
    logger: options.logger ?? silentLogger,
    doorbell: options.replay === false ? silentDoorbell : undefined,
    onReplay: options.onReplay,
    now: options.now,
    loadProgress: options.loadProgress,
  });
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
