import { PinoLogger } from '../../adapters/log/pino-logger.js';
import { runAgent } from '../../agent/index.js';
import { WATCHER_KINDS, type WatcherKind } from '../../agent/watcher.js';
import { CliError, UsageError } from '../errors.js';
import { scanProgressDisplay } from '../progress.js';

export interface AgentCommandOptions {
  relay?: string;
  token?: string;
  vfs?: string;
  watch?: string;
  state?: string;
  /** Older name of --state. */
  outbox?: string;
  initialScan?: boolean;
  ignore?: string[];
  user?: string;
  configDir?: string;
  watcher?: string;
  /** Seconds between full rescans of the watched folder (0: never). */
  rescanInterval?: string;
}

/** `vfs-relay agent`: journals every change under --watch as a change under --vfs, until SIGINT/SIGTERM. */
export async function agent(options: AgentCommandOptions): Promise<void> {
  const token = options.token ?? process.env.VFS_RELAY_NODE_TOKEN;
  if (!options.relay) throw new UsageError('no relay: pass --relay URL or set VFS_RELAY_URL');
  if (!options.vfs) throw new UsageError('--vfs PATH is required (the VFS path the folder stands for)');
  if (!options.watch) throw new UsageError('--watch DIR is required (the folder to watch)');
  if (!token) throw new UsageError('no node token: pass --token or set VFS_RELAY_NODE_TOKEN');
  let failure: unknown;
  let stop: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  // Option errors, a locked or corrupt outbox are RelayErrors: main prints them as one line.
  const handle = await runAgent({
    relay: options.relay,
    token,
    vfs: options.vfs,
    watch: options.watch,
    state: options.state ?? options.outbox,
    initialScan: options.initialScan === true,
    ignore: options.ignore,
    user: options.user,
    configDir: options.configDir,
    watcher: watcherKind(options.watcher),
    fullRescanMs: rescanInterval(options.rescanInterval),
    logger: new PinoLogger(),
    onScanProgress: scanProgressDisplay({ label: options.watch }),
    onFatal: (error) => {
      failure = error;
      stop();
    },
  });
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await stopped;
  await handle.close(); // journals what was held back; pending changes stay in the outbox for the next start
  if (failure) throw new CliError(`the agent stopped: ${(failure as Error).message ?? String(failure)}`);
}

function watcherKind(value: string | undefined): WatcherKind | undefined {
  if (value === undefined) return undefined;
  if (!(WATCHER_KINDS as readonly string[]).includes(value)) {
    throw new UsageError(`--watcher must be one of ${WATCHER_KINDS.join(', ')}, not ${value}`);
  }
  return value as WatcherKind;
}

export function rescanInterval(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = Number(value);
  // A timer's delay is at most 2^31 - 1 ms (24.8 days); Node takes a longer one for 1 ms.
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(seconds) || (seconds > 0 && seconds < 10) || seconds > 2_147_483) {
    throw new UsageError(
      `--rescan-interval must be a whole number of seconds from 10 to 2147483 (24 days), or 0 (never), not ${value}`,
    );
  }
  return seconds * 1000;
}
