import { ASSET_PATHS } from './assets.js';

/**
 * The console's shell: a login form and an empty panel. It carries no data and no secret, so it is served
 * without a token; everything else comes from `/console/panel` once the operator has given the admin token.
 * The token input has no `name`: without the script no form submission could carry it anywhere.
 */
export function ConsolePage() {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="no-referrer" />
        <title>vfs-relay console</title>
        <link rel="stylesheet" href={ASSET_PATHS.css} />
        <script src={ASSET_PATHS.script} defer />
      </head>
      <body>
        <header>
          <h1>vfs-relay</h1>
          <span id="state" class="muted" aria-live="polite" />
          <button type="button" id="logout" hidden>
            Log out
          </button>
        </header>
        <noscript>
          <p class="alert">The console needs JavaScript. The same figures: vfs-relay status, vfs-relay journal ls.</p>
        </noscript>
        <form id="login" method="post" hidden>
          <label for="token">Admin token</label>
          <input id="token" type="password" autocomplete="off" spellcheck={false} required />
          <button type="submit">Open the console</button>
          <p id="login-error" class="alert" role="alert" />
          <p class="muted small">
            The token stays in this browser tab (session storage) and goes only to this relay, in the Authorization
            header.
          </p>
        </form>
        <p id="notice" role="status" hidden />
        <main id="panel" hidden />
      </body>
    </html>
  );
}
