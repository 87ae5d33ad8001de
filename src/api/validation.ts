import type { Hook } from '@hono/zod-openapi';
import { ApiError } from './errors.js';

interface Issue {
  path: PropertyKey[];
  message: string;
  /** unrecognized_keys: the parameters the schema does not know. */
  keys?: string[];
}

/** Turns a schema failure into `400 BAD_REQUEST` naming the first bad field (BAD_PATH for paths). */
// biome-ignore lint/suspicious/noExplicitAny: the hook is shared by routes of every shape
export const validationHook: Hook<any, any, any, any> = (result) => {
  if (result.success) return;
  throw invalidInput((result.error as { issues: Issue[] }).issues);
};

/** The refusal of input a schema failed with these issues (validationHook's, for code that validates itself). */
export function invalidInput(issues: readonly Issue[]): ApiError {
  const first = issues[0];
  // An unknown query parameter or field (a misspelled filter, say): named as sent, not as `body: Unrecognized key`.
  if (first?.keys?.length) {
    const name = [...first.path.map(String), first.keys[0]].join('.');
    return new ApiError(400, 'BAD_REQUEST', `${name}: not a known field or parameter`);
  }
  const field = first?.path.map(String).join('.') || 'body';
  const code = field === 'path' || field === 'target' ? 'BAD_PATH' : 'BAD_REQUEST';
  return new ApiError(400, code, `${field}: ${first?.message ?? 'invalid'}`);
}
