import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { AgentConfigError } from './errors.js';
import { DEFAULT_IGNORE, ignoreMatcher, relativePath, vfsBase } from './paths.js';

/** What runAgent needs to know about its place: validated once, before anything starts. */
export interface AgentPlace {
  /** The watched folder, absolute. */
  root: string;
  /** VFS base, normalised, with a trailing slash. */
  vfs: string;
  /** The outbox folder, absolute. */
  outboxDir: string;
  /** Absolute path → never reported (ignore patterns, and the outbox when it lies inside the watched folder). */
  ignored(absolute: string): boolean;
}

export interface PlaceOptions {
  relay: string;
  token: string;
  vfs: string;
  watch: string;
  outbox?: string;
  ignore?: string[];
  defaultIgnore?: boolean;
}

/** Checks the options that name places and credentials; AgentConfigError names the option at fault. */
export async function resolvePlace(options: PlaceOptions): Promise<AgentPlace> {
  const root = await watchedFolder(options.watch);
  const vfs = vfsBase(options.vfs);
  checkRelay(options.relay, options.token);
  const outboxDir = options.outbox ? resolve(options.outbox) : defaultOutboxDir(root, vfs);
  // Inside the watched folder is fine (it is ignored); the watched folder inside the outbox would hide it all.
  if (isInside(root, outboxDir)) throw new AgentConfigError(`--outbox ${outboxDir} must not contain --watch ${root}`);
  const patterns = [...(options.defaultIgnore === false ? [] : DEFAULT_IGNORE), ...(options.ignore ?? [])];
  const matches = ignoreMatcher(patterns);
  return {
    root,
    vfs,
    outboxDir,
    ignored: (absolute) => isInside(absolute, outboxDir) || matches(relativePath(root, absolute)),
  };
}

/** `.vfs-relay-outbox-<hash>` beside the watched folder: outside it, and one per (folder, VFS base). */
export function defaultOutboxDir(root: string, vfs: string): string {
  const hash = createHash('sha256').update(`${root}\n${vfs}`).digest('hex').slice(0, 12);
  return join(dirname(root), `.vfs-relay-outbox-${hash}`);
}

function isInside(path: string, folder: string): boolean {
  return path === folder || path.startsWith(folder.endsWith(sep) ? folder : `${folder}${sep}`);
}

async function watchedFolder(raw: string): Promise<string> {
  if (!raw) throw new AgentConfigError('--watch is required');
  const root = resolve(raw);
  const info = await stat(root).catch(() => undefined);
  if (!info?.isDirectory()) throw new AgentConfigError(`--watch ${root} is not a folder`);
  return root;
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
  if (!token) throw new AgentConfigError('--token is required');
}
