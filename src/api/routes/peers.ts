import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { NotFoundError } from '../../core/errors.js';
import { type AuthEnv, requireRole, tokenResolver } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { errors, PeerParams, PeerSchema } from '../schemas.js';
import { validationHook } from '../validation.js';

const list = createRoute({
  method: 'get',
  path: '/',
  tags: ['operator'],
  summary: 'Peers with status and backlog',
  security: [{ bearer: [] }],
  responses: {
    200: { description: 'Every configured peer', content: { 'application/json': { schema: z.array(PeerSchema) } } },
    ...errors,
  },
});

const ping = createRoute({
  method: 'post',
  path: '/{name}/ping',
  tags: ['operator'],
  summary: 'Ping now; if online, drain',
  security: [{ bearer: [] }],
  request: { params: PeerParams },
  responses: {
    200: { description: 'The peer after the ping', content: { 'application/json': { schema: PeerSchema } } },
    ...errors,
  },
});

export function peerRoutes(deps: ApiDeps) {
  const app = new OpenAPIHono<AuthEnv>({ defaultHook: validationHook });
  app.use('*', requireRole(tokenResolver(deps.tokens), 'operator', deps.rateLimiter));

  // `echoes`: read once per request and shared by its peers (in cloud mode one S3 read per node).
  const describe = async (name: string, echoes = deps.echoes?.()) => {
    const peer = deps.peers.find((p) => p.name === name)!;
    const [state, backlog, echoed] = await Promise.all([deps.monitor.state(name), deps.view.backlog(), echoes]);
    const b = backlog.get(name);
    return {
      name,
      url: peer.url,
      status: state.status,
      lastPingAt: state.lastPingAt ?? null,
      ...(state.lastError ? { lastError: state.lastError } : {}),
      pending: b?.pending ?? 0,
      pendingBytes: b?.pendingBytes ?? 0,
      oldestPendingAt: b?.oldestPendingAt ?? null,
      conflicts: b?.conflicts ?? 0,
      failed: b?.failed ?? 0,
      blocked: b?.blocked ?? 0,
      awaitingBody: b?.awaitingBody ?? 0,
      held: b?.held ?? 0,
      ...(peer.node ? { node: peer.node, echoesSuppressed: echoed?.get(peer.node) ?? 0 } : {}),
    };
  };

  app.openapi(list, async (c) => {
    const echoes = deps.echoes?.();
    return c.json(await Promise.all(deps.peers.map((p) => describe(p.name, echoes))), 200);
  });

  app.openapi(ping, async (c) => {
    const { name } = c.req.valid('param');
    if (!deps.peers.some((p) => p.name === name)) throw new NotFoundError('PEER_NOT_FOUND', `no peer named "${name}"`);
    await deps.monitor.ping(name);
    return c.json(await describe(name), 200);
  });

  return app;
}
