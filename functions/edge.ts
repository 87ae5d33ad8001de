import { createEdgeRelay, type EdgeEnv, type EdgeRelay } from '../src/runtime/edge/relay.js';

/**
 * The relay's API as a web-standard module (Cloudflare Workers / workerd, Deno, Bun): `npm run build:edge` bundles
 * it. Bindings are read on the first request (Workers hand `env` to fetch, not to the module) and the relay is
 * built once per isolate. Replay stays with the replay function or `vfs-relay serve` (docs/edge.md).
 */
let relay: EdgeRelay | undefined;

export default {
  fetch(request: Request, env: EdgeEnv, ctx?: unknown): Response | Promise<Response> {
    relay ??= createEdgeRelay(env ?? {});
    return relay.app.fetch(request, env, ctx as never);
  },
};
