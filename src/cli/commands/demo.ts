import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { PinoLogger } from '../../adapters/log/pino-logger.js';
import { runAgent } from '../../agent/index.js';
import { parseConfig } from '../../config/load.js';
import { startEmbeddedRelay } from '../../runtime/embedded.js';

export interface DemoOptions {
  dir: string;
  port: string;
}

/**
 * `vfs-relay demo` (= `npm start`): a working local cluster with no setup — the relay, an embedded WebDAV
 * secondary serving `<dir>/secondary`, and an agent watching `<dir>/primary`. Logs go to `<dir>/data/relay.log`
 * so the terminal shows only where to look. Ctrl-C stops all three.
 */
export async function demo(options: DemoOptions): Promise<void> {
  const base = resolve(options.dir);
  const primary = join(base, 'primary');
  const secondary = join(base, 'secondary');
  const data = join(base, 'data');
  await Promise.all([primary, secondary, data].map((d) => mkdir(d, { recursive: true })));
  const log = createWriteStream(join(data, 'relay.log'), { flags: 'a' });
  const logger = new PinoLogger({ sink: log, format: 'json' });

  // Only the demo needs a WebDAV server of its own: webdav-server is loaded here and nowhere else.
  const { startDemoSecondary } = await import('../../runtime/demo-webdav.js');
  const webdav = await startDemoSecondary(secondary);
  const nodeToken = randomBytes(18).toString('base64url');
  const config = (port: number) =>
    parseConfig(
      {
        listen: { host: '127.0.0.1', port },
        journal: data,
        peers: [{ name: 'secondary', url: webdav.url, pingIntervalSeconds: 5 }],
        vfs: [{ path: '/', replicate: true }],
        auth: { nodeTokens: { primary: nodeToken } },
      },
      process.env,
      'vfs-relay demo',
    );
  const relay = await startEmbeddedRelay(config(Number(options.port)), { logger }).catch(
    (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EADDRINUSE') throw error;
      return startEmbeddedRelay(config(0), { logger }); // port taken: any free one
    },
  );
  const agent = await runAgent({
    relay: relay.url,
    token: nodeToken,
    vfs: '/',
    watch: primary,
    state: join(data, 'agent-state'),
    logger,
  });

  const shown = (p: string) => (relative(process.cwd(), p).startsWith('..') ? p : `./${relative(process.cwd(), p)}`);
  process.stdout.write(
    [
      'vfs-relay demo is running.',
      `  drop files into   ${shown(primary)}`,
      `  they appear in    ${shown(secondary)}   (a WebDAV secondary at ${webdav.url})`,
      `  relay API         ${relay.url}   (admin token: ${shown(join(data, 'admin-token'))})`,
      `  web console       ${relay.url}/   (log in with the admin token above)`,
      `  journal           ${shown(join(data, 'multi_journal'))}   logs: ${shown(join(data, 'relay.log'))}`,
      `  try               VFS_RELAY_URL=${relay.url} VFS_RELAY_ADMIN_TOKEN=$(cat ${shown(join(data, 'admin-token'))}) npx vfs-relay status`,
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );

  await new Promise<void>((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      done();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  process.stdout.write('stopping…\n');
  await agent.close();
  await relay.close();
  await webdav.close();
  await new Promise<void>((r) => log.end(r));
  process.stdout.write('stopped.\n');
}
