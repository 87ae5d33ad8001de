import { createHash } from 'node:crypto';
import { realpath } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';

/**
 * The agent's state folder: its outbox (`outbox.log`), what it set aside (`refused.jsonl`), the folder index
 * (`index.json`) and its lock. It lives outside the watched folder — the file server's served tree must not
 * hold the agent's bookkeeping — in the place the platform keeps program state (XDG Base Directory spec,
 * https://specifications.freedesktop.org/basedir-spec/latest/).
 */

/** The state of a `--config-dir` pipeline: a folder inside the files pipeline's state folder. */
export const DOCUMENTS_STATE = 'config';

/** Who runs the agent, as far as the default state folder depends on it. */
export interface StateHost {
  uid: number | undefined;
  env: Record<string, string | undefined>;
  home: string;
}

function currentHost(): StateHost {
  return { uid: process.getuid?.(), env: process.env, home: homedir() };
}

/**
 * Where state folders go by default: `/var/lib/vfs-relay` for root; else `$XDG_STATE_HOME/vfs-relay`, or
 * `~/.local/state/vfs-relay` when XDG_STATE_HOME is unset or not absolute (the spec says to ignore such a value).
 */
export function stateHome(host: StateHost = currentHost()): string {
  if (host.uid === 0) return '/var/lib/vfs-relay';
  const xdg = host.env.XDG_STATE_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, 'vfs-relay');
  return join(host.home, '.local', 'state', 'vfs-relay');
}

/** Names the state folder of one watched folder: the same folder by any path (symbolic links, `..`) is one. */
export function stateHash(realRoot: string): string {
  return createHash('sha256').update(realRoot).digest('hex').slice(0, 16);
}

/** `<stateHome>/<hash of the watched folder's real path>`. */
export async function defaultStateDir(watch: string, host?: StateHost): Promise<string> {
  return join(stateHome(host), stateHash(await realpath(watch)));
}

/**
 * Where agents before the state folder kept their outbox by default: `.vfs-relay-outbox-<hash>` beside the
 * watched folder (`root` as given, resolved but not real; the hash also names the VFS base). Found and moved
 * into the state folder at start (see state-migration.ts).
 */
export function legacyOutboxDir(root: string, vfs: string): string {
  const hash = createHash('sha256').update(`${root}\n${vfs}`).digest('hex').slice(0, 12);
  return join(dirname(root), `.vfs-relay-outbox-${hash}`);
}
