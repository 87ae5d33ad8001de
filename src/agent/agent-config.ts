import { realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { AgentConfigError } from './errors.js';
import { DEFAULT_IGNORE, ignoreMatcher, isReserved, relativePath, vfsBase, vfsPath } from './paths.js';
import { defaultStateDir, legacyOutboxDir } from './state-dir.js';

/** What runAgent needs to know about its place: validated once, before anything starts. */
export interface AgentPlace {
  /** The watched folder, absolute. */
  root: string;
  /** VFS base, normalised, with a trailing slash. */
  vfs: string;
  /** The state folder (outbox, index, set-aside changes), absolute. */
  stateDir: string;
  /** Outbox folders of older agents to move into the state folder if they exist (see state-migration.ts). */
  legacyStateDirs: string[];
  /**
   * Absolute path → never reported: ignore patterns, the state folder when it lies inside the watched one, and
   * what would land at or below the relay's reserved `/.vfs-relay/`.
   */
  ignored(absolute: string): boolean;
}

export interface PlaceOptions {
  relay: string;
  token: string;
  vfs: string;
  watch: string;
  state?: string;
  /** Older name of `state`. */
  outbox?: string;
  ignore?: string[];
  defaultIgnore?: boolean;
}

/** Checks the options that name places and credentials; AgentConfigError names the option at fault. */
export async function resolvePlace(options: PlaceOptions): Promise<AgentPlace> {
  const { root, named } = await watchedFolder(options.watch);
  const vfs = vfsBase(options.vfs);
  if (isReserved(vfs)) throw new AgentConfigError(`--vfs ${vfs} is reserved for the relay's configuration documents`);
  checkRelay(options.relay, options.token);
  const given = options.state ?? options.outbox;
  const stateDir = given ? await realPathOf(resolve(given)) : await defaultStateDir(root);
  // Inside the watched folder works (it is ignored); the watched folder inside the state folder would hide it all.
  if (isInside(root, stateDir)) throw new AgentConfigError(`--state ${stateDir} must not contain --watch ${root}`);
  const legacy = legacyOutboxDir(named, vfs);
  const patterns = [...(options.defaultIgnore === false ? [] : DEFAULT_IGNORE), ...(options.ignore ?? [])];
  const matches = ignoreMatcher(patterns);
  return {
    root,
    vfs,
    stateDir,
    legacyStateDirs: legacy === stateDir ? [] : [legacy],
    ignored: (absolute) => {
      if (isInside(absolute, stateDir)) return true;
      const rel = relativePath(root, absolute);
      // The relay refuses file changes there (400 RESERVED_PATH): not worth sending, nor setting aside.
      return matches(rel) || (rel !== '' && isReserved(vfsPath(vfs, rel)));
    },
  };
}

function isInside(path: string, folder: string): boolean {
  return path === folder || path.startsWith(folder.endsWith(sep) ? folder : `${folder}${sep}`);
}

/**
 * The watched folder: `root` is its real path (a symbolic link to it, or through it, is followed once here, so that
 * the watcher and the index see the folder itself, not a link they would take for its removal); `named` is the
 * path as given, resolved (the legacy outbox location was derived from it).
 */
async function watchedFolder(raw: string): Promise<{ root: string; named: string }> {
  if (!raw) throw new AgentConfigError('--watch is required');
  const named = resolve(raw);
  const info = await stat(named).catch(() => undefined);
  if (!info?.isDirectory()) throw new AgentConfigError(`--watch ${named} is not a folder`);
  return { root: await realpath(named), named };
}

/** The real path of `path`, or of its nearest existing ancestor with the rest appended (it may not exist yet). */
async function realPathOf(path: string): Promise<string> {
  const real = await realpath(path).catch(() => undefined);
  if (real !== undefined) return real;
  const parent = dirname(path);
  return parent === path ? path : join(await realPathOf(parent), basename(path));
}

function checkRelay(relay: string, token: string): void {
  let url: URL;
  try {
    url = new URL(relay);
  } catch {
    throw new AgentConfigError(`--relay ${JSON.stringify(relay)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new AgentConfigError(`--relay must be an http(s) URL, not ${url.protocol}`);
  }
  // Never sent (the token is), only ever logged with the URL: refused without showing it.
  if (url.username || url.password) {
    throw new AgentConfigError(
      '--relay must not carry a user name or password (user:password@): the token is the login',
    );
  }
  if (!token) throw new AgentConfigError('--token is required');
}
