import type { z } from 'zod';
import { RelayError } from '../core/errors.js';

/** The configuration is missing, unreadable or invalid; the message names the key. */
export class ConfigError extends RelayError {
  readonly code = 'BAD_CONFIG';
}

/** `peers[0].url` — a key as the config file spells it. */
export function keyOf(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (acc, part) => (typeof part === 'number' ? `${acc}[${part}]` : acc ? `${acc}.${String(part)}` : String(part)),
    '',
  );
}

/**
 * "config peers[0].url: Invalid URL (FILE) (and 2 more)" — one line naming the first bad key. `label` turns the
 * key ('' for the root) into the line's start.
 */
export function describeIssues(error: z.ZodError, label: (key: string) => string, source?: string): string {
  const issue = error.issues[0]!;
  const from = source === undefined ? '' : ` (${source})`;
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more)` : '';
  return `${label(keyOf(issue.path))}: ${issue.message}${from}${more}`;
}

/** The label of relay config keys: `config peers[0].url`, `config (root)`. */
export const configKey = (key: string): string => `config ${key || '(root)'}`;
