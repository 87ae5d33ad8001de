import { join } from 'node:path';
import { RelayError } from '../core/errors.js';
import { type Logger, silentLogger } from '../core/logger.js';
import { resolvePlace } from './agent-config.js';
import { birthTimesAreReal } from './birth-time.js';
import { RelayClient } from './client.js';
import { closeSignal } from './close-write.js';
import { AgentConfigError } from './errors.js';
import { sameIdentity } from './file-index.js';
import { INDEX_FILE, saveIndex } from './index-file.js';
import { IndexLog, openIndex, removeLogs } from './index-log.js';
import { OpenUploads } from './open-uploads.js';
import { Outbox } from './outbox.js';
import { RefusedChanges } from './refused-changes.js';
import { RenameDetector } from './rename-detector.js';
import type { RetryPolicy } from './retry.js';
import { Sender } from './sender.js';
import { DOCUMENTS_STATE } from './state-dir.js';
import { moveLegacyState } from './state-migration.js';
import { logStatusEvery } from './status-log.js';
import { startWatcher, statRelative, type WatcherKind } from './watcher.js';

/** The remembered folder state is saved this often while changes are being reported (and at close). */
const INDEX_SAVE_MS = 30_000;
/** Every folder is listed again this often (see AgentOptions.fullRescanMs). */
const FULL_RESCAN_MS = 3_600_000;

export interface AgentOptions {
  /** Base URL of the relay API. */
  relay: string;
  /** Node token. */
  token: string;
  /** VFS path the watched folder stands for: `DIR/x/y` is reported as `<vfs>x/y`. */
  vfs: string;
  /** The folder to watch, recursively. */
  watch: string;
  /**
   * The state folder: where detected changes wait until the relay has them (the outbox), what the relay refused,
   * and the folder index. Default: `/var/lib/vfs-relay/<hash>` for root, else `$XDG_STATE_HOME/vfs-relay/<hash>`
   * (`~/.local/state/vfs-relay/<hash>` without it); the hash names the watched folder's real path. A state folder
   * inside the watched folder is never reported. An outbox an older agent kept beside the watched folder is
   * moved into it at start.
   */
  state?: string;
  /** @deprecated The older name of `state`. */
  outbox?: string;
  /** Report what the folder already holds at start (makedir, upload). Default false: it is only remembered. */
  initialScan?: boolean;
  /** Further names or paths never reported (globs; see ignoreMatcher). */
  ignore?: string[];
  /** Also ignore DEFAULT_IGNORE (partial downloads, temporary and lock files). Default true. */
  defaultIgnore?: boolean;
  /** Who made the changes, sent with each one. */
  user?: string;
  logger?: Logger;
  /** How long a removal waits for the addition that makes it a move. Default 300 ms. */
  renameWindowMs?: number;
  /** How long a file must hold still before it is uploaded (without a close signal). Default 500 ms. */
  stabilityMs?: number;
  /**
   * Take a file as soon as the OS says it was closed after writing and no one holds it open (Linux inotify through
   * the optional koffi module; see close-write.ts), instead of waiting `stabilityMs` for it to hold still. Where
   * there is no such signal the wait applies. Default true.
   */
  closeSignal?: boolean;
  /** Per request timeout of the relay client. Default 30 s. */
  timeoutMs?: number;
  /** Retries of one request on network errors and 5xx. */
  retry?: Partial<RetryPolicy>;
  /** Longest pause between rounds of attempts while the relay is unreachable. Default 10 s. */
  reconnectMaxDelayMs?: number;
  /** The agent stopped on its own (its outbox can no longer be written, or the watched folder is gone). */
  onFatal?: (error: unknown) => void;
  /**
   * Also watch a folder of configuration documents: `<configDir>/<scope>/<name>` (scope: users, groups, prefs,
   * jobs, events, shares) is replicated with `PUT|DELETE /v1/config/<scope>/<name>`, through its own outbox
   * (in `<state>/config`) with the same ordering and outage guarantees as files.
   */
  configDir?: string;
  /**
   * How often every folder is listed again and compared with what was known, to find changes whose events the
   * OS dropped (an inotify queue overflow). `folders` watcher only. Default 1 h; 0: never.
   */
  fullRescanMs?: number;
  /** `folders` (one fs.watch per folder; default on Linux) or `chokidar` (default elsewhere). See WatcherKind. */
  watcher?: WatcherKind;
  /** Internal: this pipeline watches configuration documents (see configDir). */
  documents?: boolean;
  /** Internal: where older agents kept this pipeline's outbox (moved into the state folder at start). */
  legacyState?: string[];
  /** How often the status line (queued, sent, refused, ...) is logged while there is something to say. Default 60 s. */
  statusIntervalMs?: number;
  /** Told how the listing of the folder at start goes (each file and folder, then once more when it is done). */
  onScanProgress?: (progress: ScanProgress) => void;
}

/** The listing of the watched folder at start, so far. */
export interface ScanProgress {
  files: number;
  folders: number;
  /** Sum of the listed files' sizes. */
  bytes: number;
  /** The listing is complete (the last call). */
  done: boolean;
}

export interface AgentStatus {
  /** Changes in the outbox, not yet acknowledged by the relay. */
  queued: number;
  /** Events not yet turned into changes (held for rename pairing, files still being written, appends). */
  detecting: number;
  sent: number;
  /**
   * Changes the relay refused for good, set aside in refused.jsonl in the state folder (this run and earlier
   * ones) and not re-queued: `vfs-relay agent refused` lists them.
   */
  refused: number;
}

export interface AgentHandle {
  /** The state folder in use (see AgentOptions.state). */
  readonly stateDir: string;
  status(): AgentStatus;
  /** Stops watching, journals what was held back, stops sending. Pending changes stay in the outbox. */
  close(): Promise<void>;
}

/** Watches a folder and journals every change below it as a change under the VFS path (see README). */
export async function runAgent(options: AgentOptions): Promise<AgentHandle> {
  const handle = await runPipelines(options);
  const stopLog = logStatusEvery(
    options.statusIntervalMs ?? 60_000,
    () => handle.status(),
    options.logger ?? silentLogger,
    handle.stateDir,
  );
  return {
    ...handle,
    status: () => handle.status(),
    close: async () => {
      stopLog();
      await handle.close();
    },
  };
}

async function runPipelines(options: AgentOptions): Promise<AgentHandle> {
  if (!options.configDir) return runPipeline(options);
  const files = await runPipeline(options);
  const place = await resolvePlace(options);
  const documents = await runPipeline({
    ...options,
    watch: options.configDir,
    vfs: '/',
    state: join(files.stateDir, DOCUMENTS_STATE),
    outbox: undefined,
    // Older agents kept it beside the files' outbox: `<outbox>-config`.
    legacyState: [`${files.stateDir}-config`, ...place.legacyStateDirs.map((dir) => `${dir}-config`)],
    initialScan: options.initialScan,
    configDir: undefined,
    documents: true,
    onScanProgress: undefined,
  }).catch(async (error) => {
    await files.close();
    throw error;
  });
  return {
    stateDir: files.stateDir,
    status: () => {
      const [f, d] = [files.status(), documents.status()];
      return {
        queued: f.queued + d.queued,
        detecting: f.detecting + d.detecting,
        sent: f.sent + d.sent,
        refused: f.refused + d.refused,
      };
    },
    close: async () => {
      await Promise.all([files.close(), documents.close()]);
    },
  };
}

async function runPipeline(options: AgentOptions): Promise<AgentHandle> {
  const logger = options.logger ?? silentLogger;
  const { root, vfs, stateDir, legacyStateDirs, ignored } = await resolvePlace(options);
  const renameWindowMs = options.renameWindowMs ?? 300;
  const stabilityMs = options.stabilityMs ?? 500;

  const cannotUse = (error: NodeJS.ErrnoException) => {
    if (!error.code || error instanceof RelayError) throw error;
    throw new AgentConfigError(`cannot use the state folder ${stateDir} (${error.code}); choose another with --state`);
  };
  for (const from of options.legacyState ?? legacyStateDirs) {
    await moveLegacyState(from, stateDir, { logger }).catch((error: NodeJS.ErrnoException) => {
      if (!error.code || error instanceof RelayError) throw error;
      throw new AgentConfigError(
        `cannot move the outbox of an older agent from ${from} into the state folder ${stateDir} (${error.code}); move its files there by hand, or start with --state ${from}`,
      );
    });
  }
  const outbox = await Outbox.open(stateDir).catch(cannotUse);
  if (outbox.size > 0) logger.info('resuming from the outbox', { state: stateDir, queued: outbox.size });
  const refused = await RefusedChanges.open(stateDir).catch(async (error: unknown) => {
    await outbox.close();
    throw error;
  });
  if (refused.count > 0) {
    logger.error('changes set aside earlier (refused by the relay) wait for an operator', {
      refused: refused.count,
      list: `vfs-relay agent refused --state ${stateDir}`,
    });
  }
  let birthTimes = true;
  try {
    birthTimes = birthTimesAreReal(stateDir);
  } catch (error) {
    logger.warn('could not check whether this host reports birth times; assuming it does', { error });
  }
  if (!birthTimes) {
    logger.warn(
      'this host reports no real birth times (no statx?): folders are told apart by inode only, so a folder removed and another made at once may be replayed as a move (the peer ends up the same)',
    );
  }
  const statAt = (rel: string) => statRelative(root, rel, birthTimes);
  const signal =
    options.closeSignal === false
      ? undefined
      : await closeSignal((error) => logger.warn('could not read file close events', { error }));
  logger.info(
    signal
      ? 'files are sent once closed after writing (inotify), or after holding still where that is not known'
      : 'files are sent once they held still (no close-after-write signal here)',
    { stabilityMs },
  );
  const closes = signal && {
    retain: (rel: string) => signal.retain(join(root, rel)),
    release: (rel: string) => signal.release(join(root, rel)),
    closedAfterWrite: (rel: string) => signal.closedAfterWrite(join(root, rel)),
  };
  const client = new RelayClient({
    relay: options.relay,
    token: options.token,
    timeoutMs: options.timeoutMs,
    retry: options.retry,
  });
  const sender = new Sender({
    outbox,
    refused,
    uploads: await OpenUploads.open(outbox.dir),
    client,
    root,
    vfs,
    logger,
    reconnect: { baseDelayMs: 250, maxDelayMs: options.reconnectMaxDelayMs ?? 10_000 },
    goneGraceMs: renameWindowMs + stabilityMs + 1_000,
    documents: options.documents,
    ignored,
    onNotSent: (path) => detector.notSent(path),
  });

  let watcher: { close(): Promise<void> } | undefined;
  let closing: Promise<void> | undefined;
  let appending = 0;
  let lastAppend: Promise<unknown> = Promise.resolve();
  // What the folder held as far as reported changes go, kept beside the outbox so that the next start can report
  // what changed while the agent was not running (see docs/agent.md).
  const indexFile = join(stateDir, INDEX_FILE);
  let indexDirty = false;
  let outboxBroken = false;
  let savingIndex: Promise<void> = Promise.resolve();
  const indexWarning = (error: unknown) =>
    logger.warn('could not save the folder index; the next start may send some changes again', { error });
  // Resuming: the detector starts from what the last run had reported (see the seeding below).
  const opened = await openIndex(
    indexFile,
    (reason) =>
      logger.warn(
        options.initialScan
          ? `the folder index ${reason}: every file is sent, but removals made while the agent was stopped are not`
          : `the folder index ${reason}: starting as on a first start, so changes made while the agent was stopped are not sent (start once with --initial-scan to send every file again)`,
        { file: indexFile },
      ),
    indexWarning,
  );
  const previous = opened.previous;
  if (opened.damaged) {
    logger.warn('the folder index log is damaged: changes reported after that point may be sent again', {
      file: indexFile,
      at: opened.damaged,
    });
  }
  // Every change to the remembered state is logged as it is reported; the whole state is written now and then
  // (INDEX_SAVE_MS, at stop), and the log starts over after it.
  const indexLog = new IndexLog(
    indexFile,
    opened.generation,
    () => lastAppend,
    () => !outboxBroken,
    indexWarning,
  );
  const persistIndex = (): Promise<void> => {
    const snapshot = detector.remembered();
    const reported = lastAppend; // the snapshot's changes are in the outbox once these appends are
    const logged = indexLog.rotate(); // what was recorded before the snapshot goes to the log it follows
    indexDirty = false;
    savingIndex = savingIndex
      .then(async () => {
        const log = await logged;
        await reported;
        if (outboxBroken) return;
        await saveIndex(indexFile, snapshot, log);
        await removeLogs(indexFile, (n) => n < log);
      })
      .catch(indexWarning);
    return savingIndex;
  };
  const indexTimer = setInterval(() => {
    if (indexDirty) void persistIndex();
  }, INDEX_SAVE_MS);
  indexTimer.unref();
  const close = (): Promise<void> => {
    closing ??= (async () => {
      clearInterval(indexTimer);
      await watcher?.close();
      await detector.drain();
      await lastAppend;
      await persistIndex();
      try {
        await sender.stop();
      } finally {
        await client.close();
      }
      await outbox.close();
      signal?.close();
      logger.info('agent stopped', { queued: outbox.size });
    })();
    return closing;
  };
  const stopFor = (message: string, fields: Record<string, unknown>, error: unknown) => {
    if (closing) return;
    logger.error(message, { ...fields, error });
    options.onFatal?.(error);
    void close();
  };
  const fatal = (error: unknown) => {
    outboxBroken = true;
    stopFor('agent stopped: its outbox cannot be written', { state: stateDir }, error);
  };

  const scan: ScanProgress = { files: 0, folders: 0, bytes: 0, done: false };
  const detector = new RenameDetector({
    stat: statAt,
    emit: (change) => {
      appending += 1;
      indexDirty = true;
      logger.debug('change detected', { ...change });
      // Appends complete in call order (the outbox writes them in sequence), so detection order is kept.
      lastAppend = outbox
        .append(change, options.user)
        .catch(fatal)
        .finally(() => {
          appending -= 1;
        });
    },
    renameWindowMs,
    stabilityMs,
    closes,
    eachFile: options.documents === true,
    initialScan: options.initialScan ?? false,
    onListed: (stat) => {
      if (stat.kind === 'dir') scan.folders += 1;
      else {
        scan.files += 1;
        scan.bytes += stat.size;
      }
      options.onScanProgress?.({ ...scan });
    },
    onError: (error) => logger.warn('could not inspect a changed path', { error }),
  });

  // Resuming: the detector starts from what the last run had reported, and the listing at start is handled like
  // live events — new and changed files are uploaded, moves found by inode — and what is gone is reported below.
  // With --initial-scan everything listed is sent as it is; the index then only supplies what is gone.
  // Seeded: what is still there as it was, what is gone (a move or a removal), and what is now of the other kind
  // (reported removed first, below). Not a name that now holds another file, or another folder: a move inferred
  // from an older name that holds new data now (a rotated log) would land that data over the move's target. Such
  // a name is sent as new (and one it moved to as new too: bytes again, but never the wrong bytes).
  for (const [path, stat] of previous ?? []) {
    const now = await statAt(path).catch(() => stat); // unreadable: leave it as it was
    if (!now || sameIdentity(now, stat) || now.kind !== stat.kind) detector.index.set(path, stat);
  }
  detector.observe((path, stat) => {
    indexDirty = true;
    indexLog.record(path, stat);
  });
  // A first start logs nothing until its listing is remembered whole (persistIndex, once the listing is handled):
  // a first start killed before that is a first start again, and the changes it reported wait in the outbox.
  if (previous) indexLog.start();
  const listed = new Set<string>();

  // The outbox is sent first: what a previous run journaled goes out before anything new.
  sender.start(fatal);
  try {
    watcher = await startWatcher(
      {
        root,
        ignored,
        birthTimes,
        fullRescanMs: options.fullRescanMs ?? FULL_RESCAN_MS,
        onEvent: (event) => {
          if (!previous || !event.initial) return detector.push(event);
          if (event.path === '') return; // the watched folder itself (chokidar reports it)
          listed.add(event.path);
          // A file where a folder was, or the other way round: the old one goes first.
          const was = previous.get(event.path)?.kind;
          if (was && was !== (event.type === 'addDir' ? 'dir' : 'file')) {
            detector.push({ type: was === 'dir' ? 'unlinkDir' : 'unlink', path: event.path });
          }
          detector.push({ type: event.type, path: event.path, initial: options.initialScan });
        },
        onError: (error) => logger.warn('file watcher error', { error }),
        // Restarted (by its service manager), the agent watches whatever is there now.
        onRootGone: (error) => stopFor('agent stopped: the watched folder is gone', { watch: root }, error),
      },
      options.watcher,
    );
  } catch (error) {
    await close();
    throw error;
  }
  if (options.onScanProgress) {
    await detector.handled(); // every listed path has been looked at
    options.onScanProgress({ ...scan, done: true });
  }
  // A first start saves what it found as soon as it has looked at it, so that a next start can catch up with
  // what changed while it was down, even after a kill.
  if (!previous) void detector.handled().then(() => closing ?? persistIndex());
  if (previous) {
    // Known before, not listed now, and really not there (an ignored or unreadable path is left alone): removed
    // while the agent was stopped. Deepest first, as a watcher reports a removed folder.
    const gone: string[] = [];
    const unmounted: string[] = [];
    const devOf = new Map<string, number | undefined>();
    /** The device of the nearest folder above `path` that exists now. */
    const ancestorDev = async (path: string): Promise<number | undefined> => {
      const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
      if (!devOf.has(parent)) {
        const stat = await statAt(parent).catch(() => undefined);
        devOf.set(parent, stat ? stat.dev : parent === '' ? undefined : await ancestorDev(parent));
      }
      return devOf.get(parent);
    };
    for (const path of [...previous.keys()].sort().reverse()) {
      // A stat that fails (no permission) counts as present: only what is certainly gone is removed.
      if (listed.has(path) || (await statAt(path).catch(() => true))) continue;
      // Gone from a file system other than the one its folder is on now: a volume mounted inside the tree that
      // is not mounted any more. Not a removal.
      if ((await ancestorDev(path)) !== previous.get(path)!.dev) unmounted.push(path);
      else gone.push(path);
    }
    if (unmounted.length > 0) {
      for (const path of unmounted) detector.index.delete(path);
      logger.error('paths of a file system no longer mounted in the watched folder: not deleting them', {
        watch: root,
        count: unmounted.length,
        first: unmounted[unmounted.length - 1],
      });
    }
    // Everything gone at once, or a folder on another file system than every path it held: an unmounted volume
    // (its empty mount point) or a folder swapped for another looks exactly like that. Deleting all of it on the
    // peers would be the one unrecoverable mistake: removals found at start are then not reported.
    const rootDev = (await statAt(''))?.dev;
    const suspicious =
      gone.length > 0 && (listed.size === 0 || ![...previous.values()].some((stat) => stat.dev === rootDev));
    if (suspicious) {
      // Forgotten, not held back: a later start must not delete them either once something else appears here.
      for (const path of gone) detector.index.delete(path);
      logger.error('the watched folder is empty or on another file system than before: not deleting what it held', {
        watch: root,
        known: previous.size,
        gone: gone.length,
        hint: `if the removals are meant, delete them by hand, or remove ${indexFile} and restart`,
      });
    } else {
      for (const path of gone) {
        detector.push({ type: previous.get(path)!.kind === 'dir' ? 'unlinkDir' : 'unlink', path });
      }
    }
    logger.info('caught up with the folder as the last run left it', {
      known: previous.size,
      gone: suspicious ? 0 : gone.length,
    });
  }
  logger.info('agent watching', { watch: root, vfs, relay: options.relay, state: stateDir });

  return {
    stateDir,
    status: () => ({
      queued: outbox.size,
      detecting: detector.backlog + appending,
      sent: sender.sent,
      refused: sender.refused,
    }),
    close,
  };
}
