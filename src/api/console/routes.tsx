import { type Context, Hono } from 'hono';
import { html } from 'hono/html';
import { secureHeaders } from 'hono/secure-headers';
import type { ThroughputSeries } from '../../core/throughput.js';
import { type AuthEnv, requireRole, type TokenTable, tokenResolver } from '../auth.js';
import { type ApiCall, OperatorReads } from '../operator-reads.js';
import { ASSET_PATHS, CONSOLE_CSS, CONSOLE_SCRIPT } from './assets.js';
import { ConsolePage } from './page.js';
import { Panel } from './panel.js';
import { panelData } from './panel-data.js';

export interface ConsoleDeps {
  tokens: TokenTable;
  /** The relay's API, called in-process with the operator's token. */
  api: ApiCall;
  throughput?: () => ThroughputSeries;
  now?: () => Date;
}

/**
 * Same-origin scripts and styles only, nothing inline, no frames: a value that slipped through escaping could
 * still not run. No HSTS here: the relay often listens on plain HTTP on loopback, and HSTS is the proxy's call.
 */
const consoleHeaders = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'none'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'"],
    connectSrc: ["'self'"],
    formAction: ["'self'"],
    baseUri: ["'none'"],
    frameAncestors: ["'none'"],
  },
  referrerPolicy: 'no-referrer',
  strictTransportSecurity: false,
});

/** `GET /`: the console page. It holds no data, so it needs no token. */
export function consolePageRoutes() {
  const app = new Hono();
  app.get('/', consoleHeaders, (c) => c.html(html`<!doctype html>${<ConsolePage />}`));
  return app;
}

/** Under `/console`: the page's script and style sheet, and the live panel (admin token). */
export function consoleRoutes(deps: ConsoleDeps) {
  const app = new Hono<AuthEnv>();
  const now = deps.now ?? (() => new Date());
  const asset = (body: string, type: string) => (c: Context) =>
    c.body(body, 200, { 'content-type': type, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
  app.get(ASSET_PATHS.script.replace('/console', ''), asset(CONSOLE_SCRIPT, 'text/javascript; charset=utf-8'));
  app.get(ASSET_PATHS.css.replace('/console', ''), asset(CONSOLE_CSS, 'text/css; charset=utf-8'));
  app.get('/panel', consoleHeaders, requireRole(tokenResolver(deps.tokens), 'operator'), async (c) => {
    const reads = new OperatorReads(deps.api, c.req.header('authorization')!);
    const data = await panelData(reads, { throughput: deps.throughput, now: now() });
    c.header('cache-control', 'no-store');
    return c.html(<Panel {...data} />);
  });
  return app;
}
