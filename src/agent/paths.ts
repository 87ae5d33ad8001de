import { relative, sep } from 'node:path';
import { normalizePath } from '../core/paths.js';
import { AgentConfigError } from './errors.js';

/**
 * Names that are never uploaded: partial downloads, temporary files, editor locks and swap files. They are
 * written and renamed or deleted moments later; replicating them would only add churn and conflicts.
 */
export const DEFAULT_IGNORE: readonly string[] = [
  '*.part',
  '*.tmp',
  '~*',
  '.#*',
  '*.swp',
  '*.crdownload',
  '.~lock.*',
  // Servers' own metadata, never content: Apache mod_dav_fs property stores, macOS folder settings.
  '.DAV',
  '.DS_Store',
];

/** The VFS base in normal form with a trailing slash (`/user_homes/john/`), or AgentConfigError. */
export function vfsBase(raw: string): string {
  let normal: string;
  try {
    normal = normalizePath(raw, 'vfs');
  } catch (error) {
    throw new AgentConfigError(`--vfs ${JSON.stringify(raw)}: ${(error as Error).message}`);
  }
  return normal === '/' ? '/' : `${normal}/`;
}

/** `x/y` (relative to the watched folder) → `<base>x/y`. */
export function vfsPath(base: string, rel: string): string {
  return `${base}${rel}`;
}

/** The path of `absolute` relative to `root`, `/`-separated; '' for the root itself. */
export function relativePath(root: string, absolute: string): string {
  const rel = relative(root, absolute);
  return sep === '/' ? rel : rel.split(sep).join('/');
}

/**
 * Compiles ignore patterns. A pattern without `/` is matched against each name (so `*.tmp` ignores such files
 * at any depth, and a matching folder with everything below it); a pattern with `/` against the whole relative
 * path. Globs: `*` (within a name), `**` (across names), `?`, `[abc]`, `[!abc]`.
 */
export function ignoreMatcher(patterns: readonly string[]): (rel: string) => boolean {
  const byName: RegExp[] = [];
  const byPath: RegExp[] = [];
  for (const pattern of patterns) {
    const trimmed = pattern.trim();
    if (trimmed === '') continue;
    if (trimmed.includes('/')) byPath.push(globToRegExp(trimmed.replace(/^\/+|\/+$/g, '')));
    else byName.push(globToRegExp(trimmed));
  }
  return (rel) => {
    if (rel === '') return false;
    if (byPath.some((re) => re.test(rel))) return true;
    return rel.split('/').some((name) => byName.some((re) => re.test(name)));
  };
}

export function globToRegExp(glob: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        out += '.*';
        i += 1;
      } else out += '[^/]*';
    } else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end === -1) out += '\\[';
      else {
        const body = glob.slice(i + 1, end);
        const negated = body.startsWith('!');
        out += `[${negated ? '^' : ''}${(negated ? body.slice(1) : body).replace(/[\\\]]/g, '\\$&')}]`;
        i = end;
      }
    } else out += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(`^${out}$`, 'u');
}
