import { relative, sep } from 'node:path';
import picomatch from 'picomatch/posix.js';
import { isReservedPath } from '../core/entry.js';
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
  // A PUT in flight on Apache mod_dav_fs: written as `.davfs.tmpXXXXXX` beside the target, then renamed onto it.
  // Seen, it would be replicated as an upload of the temporary name plus a rename, and in an active-active pair
  // a replica arriving this way would not look like the echo it is (the relay remembers the final name).
  '.davfs.tmp*',
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

/** At or below `/.vfs-relay/`, which the relay keeps for configuration documents (a trailing slash allowed). */
export function isReserved(vfsPathOrBase: string): boolean {
  const path = vfsPathOrBase.length > 1 ? vfsPathOrBase.replace(/\/$/, '') : vfsPathOrBase;
  return isReservedPath(path);
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
 * Compiles ignore patterns the way `.gitignore` and rsync's `--exclude` read them, globs by picomatch:
 * - a pattern without `/` (a trailing one aside) is matched against each name, at any depth: `*.tmp`, `cache`;
 * - a pattern with a `/` at its start or middle is matched against the whole path from the watched folder:
 *   `/build` only at the top, `logs/*.gz`; a `**` between two slashes spans any number of folders, none
 *   included (docs/agent.md has examples);
 * - a trailing `/` names a folder (`build/`); the agent cannot tell the kind of a path it no longer sees, so it
 *   ignores a file of that name too;
 * - an ignored folder hides everything below it;
 * - `!pattern` takes back what an earlier pattern ignored (the last pattern that matches decides), but not below
 *   an ignored folder — as in gitignore;
 * - `*` and `?` match within a name (dotfiles included), `[abc]`, `[!abc]`, `{bak,old}`, and `\` escapes the next
 *   character (`\*` is a star, `\!x` a name starting with `!`).
 */
export function ignoreMatcher(patterns: readonly string[]): (rel: string) => boolean {
  const rules = patterns.flatMap((pattern) => {
    const rule = compileRule(pattern);
    return rule ? [rule] : [];
  });
  if (rules.length === 0) return () => false;
  /** The verdict on one path, its folders not considered. */
  const verdict = (rel: string, name: string): boolean => {
    let ignored = false;
    for (const rule of rules) {
      if (rule.negated === !ignored) continue; // cannot change the verdict
      if (rule.matches(rule.anchored ? rel : name)) ignored = !rule.negated;
    }
    return ignored;
  };
  return (rel) => {
    if (rel === '') return false;
    // Each folder on the way down first: below an ignored one, nothing is seen.
    for (let end = rel.indexOf('/'); ; end = rel.indexOf('/', end + 1)) {
      const prefix = end === -1 ? rel : rel.slice(0, end);
      if (verdict(prefix, prefix.slice(prefix.lastIndexOf('/') + 1))) return true;
      if (end === -1) return false;
    }
  };
}

interface IgnoreRule {
  negated: boolean;
  /** Matched against the path from the watched folder, not the name. */
  anchored: boolean;
  matches: (text: string) => boolean;
}

function compileRule(pattern: string): IgnoreRule | undefined {
  let glob = trimUnescaped(pattern);
  const negated = glob.startsWith('!');
  if (negated) glob = glob.slice(1);
  glob = glob.replace(/\/+$/, ''); // a folder: see ignoreMatcher
  if (glob === '') return undefined;
  const anchored = glob.includes('/');
  if (anchored) glob = glob.replace(/^\/+/, '');
  // picomatch/posix: `\` escapes on every platform (paths here are always `/`-separated); posix: `[!abc]`.
  const matches = picomatch(glob, { dot: true, nonegate: true, posix: true, strictSlashes: true });
  return { negated, anchored, matches: (text) => matches(text) };
}

/** Leading and trailing blanks go, unless a backslash keeps a trailing one (gitignore: `name\ `). */
function trimUnescaped(pattern: string): string {
  const trimmed = pattern.trimStart();
  const end = trimmed.trimEnd();
  return end.endsWith('\\') && end.length < trimmed.length ? `${end} ` : end;
}
