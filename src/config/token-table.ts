/** Shorter tokens are refused: a bearer token is the only thing between a node and the journal. */
export const MIN_TOKEN_LENGTH = 16;

export interface ResolvedTokens {
  adminToken?: string;
  nodeTokens: Record<string, string>;
}

/**
 * The first problem of a token table (CONTRACT v2), as the key to name and what is wrong with it: a token under
 * MIN_TOKEN_LENGTH characters, a node token equal to the admin token (that node would be an operator), or two nodes
 * sharing one (neither could be told apart: ownership of uploads, rate limits and echo suppression go by node).
 * The message never contains a token.
 */
export function tokenTableProblem(tokens: ResolvedTokens): { key: string; message: string } | undefined {
  if (tokens.adminToken !== undefined) {
    const problem = tokenProblem(tokens.adminToken);
    if (problem) return { key: 'auth.adminToken', message: problem };
  }
  const seen = new Map<string, string>();
  for (const [node, token] of Object.entries(tokens.nodeTokens)) {
    const key = `auth.nodeTokens.${node}`;
    const problem = tokenProblem(token);
    if (problem) return { key, message: problem };
    if (token === tokens.adminToken) {
      return { key, message: 'the token equals the admin token; give each node a token of its own' };
    }
    const other = seen.get(token);
    if (other !== undefined) {
      return { key, message: `the token is also auth.nodeTokens.${other}'s; give each node a token of its own` };
    }
    seen.set(token, node);
  }
  return undefined;
}

/**
 * What is wrong with one token on its own. White space around it: HTTP trims a header value, so no request carries
 * it, and `"…x "` would answer to whoever sends `"…x"` (another node's token, or the admin's).
 */
function tokenProblem(token: string): string | undefined {
  if (token.length < MIN_TOKEN_LENGTH) return `the token is shorter than ${MIN_TOKEN_LENGTH} characters`;
  if (token.trim() !== token) return 'the token begins or ends with white space, which no request can carry';
  return undefined;
}
