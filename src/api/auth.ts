import { createMiddleware } from 'hono/factory';
import { constantTimeEqual } from '../core/bytes.js';
import { sha256OfText } from '../core/digest.js';
import { ApiError } from './errors.js';
import type { RateLimiter } from './rate-limit.js';

export type Caller = { role: 'admin' } | { role: 'node'; node: string };

export interface TokenTable {
  adminToken?: string;
  nodeTokens: Record<string, string>;
  /**
   * SHA-256 of a token, synchronously. Default: @noble/hashes, which runs in every runtime. Node passes
   * node:crypto's (adapters/node-digest.ts): every request with a token is digested once, and the JavaScript
   * digest of a relay still warming up costs several times the native one.
   */
  digest?: (text: string) => Uint8Array;
}

export type AuthEnv = { Variables: { caller: Caller } };

/**
 * Resolves a bearer token to a caller. Every configured token is compared, in constant time over SHA-256
 * digests (equal length whatever the input), so neither the match nor its position leaks through timing.
 */
export function tokenResolver(table: TokenTable): (token: string) => Caller | undefined {
  const digest = table.digest ?? sha256OfText;
  const known: [Uint8Array, Caller][] = [];
  if (table.adminToken) known.push([digest(table.adminToken), { role: 'admin' }]);
  for (const [node, token] of Object.entries(table.nodeTokens)) known.push([digest(token), { role: 'node', node }]);
  return (token) => {
    const presented = digest(token);
    let found: Caller | undefined;
    for (const [expected, caller] of known) {
      if (constantTimeEqual(presented, expected) && !found) found = caller;
    }
    return found;
  };
}

/**
 * `who`: "node" accepts node tokens and the admin token; "operator" only the admin token. `limiter`: every request
 * with a node token takes from that node's bucket (429 RATE_LIMITED past it); the admin token is never limited, so
 * an operator can always act while a node floods.
 */
export function requireRole(
  resolve: (token: string) => Caller | undefined,
  who: 'node' | 'operator',
  limiter?: RateLimiter,
) {
  return createMiddleware<AuthEnv>(async (c, next) => {
    const token = bearerToken(c.req.header('authorization'));
    if (token === undefined) {
      c.header('WWW-Authenticate', 'Bearer');
      throw new ApiError(401, 'UNAUTHENTICATED', 'send "Authorization: Bearer <token>"');
    }
    const caller = resolve(token);
    if (!caller) {
      c.header('WWW-Authenticate', 'Bearer error="invalid_token"');
      throw new ApiError(401, 'UNAUTHENTICATED', 'the bearer token is not valid');
    }
    if (caller.role === 'node') limiter?.take(caller.node);
    if (who === 'operator' && caller.role !== 'admin') {
      throw new ApiError(403, 'FORBIDDEN', 'this endpoint needs the admin token');
    }
    c.set('caller', caller);
    await next();
  });
}

/** The token of an `Authorization: Bearer <token>` header; undefined for any other header, or none. */
export function bearerToken(header: string | undefined): string | undefined {
  return header ? /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] : undefined;
}

export function callerNode(caller: Caller): string | undefined {
  return caller.role === 'node' ? caller.node : undefined;
}
