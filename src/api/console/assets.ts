/*
 * The console's script and style sheet, served as files (the page's Content-Security-Policy allows no inline
 * script or style). Plain browser JavaScript, no build step: it logs in, polls `/console/panel` (HTML the server
 * rendered and escaped) and turns button clicks into API calls carrying the token.
 */

export const ASSET_PATHS = { script: '/console/app.js', css: '/console/app.css' } as const;

/** How often the open console refreshes itself. */
export const POLL_MS = 3000;

export const CONSOLE_SCRIPT = `'use strict';
(() => {
  // sessionStorage: the token lives as long as this tab, is never sent by the browser on its own (no cookie)
  // and never appears in a URL.
  const KEY = 'vfs-relay.admin-token';
  const POLL_MS = ${POLL_MS};
  const el = (id) => document.getElementById(id);
  const login = el('login');
  const input = el('token');
  const panel = el('panel');
  const state = el('state');
  const notice = el('notice');
  const logout = el('logout');
  let timer;
  let shown = '';
  let queue = Promise.resolve();

  const token = () => sessionStorage.getItem(KEY);
  const call = (method, url) =>
    fetch(url, { method, cache: 'no-store', credentials: 'omit', headers: { authorization: 'Bearer ' + token() } });

  function showLogin(message) {
    sessionStorage.removeItem(KEY);
    clearTimeout(timer);
    panel.hidden = true;
    panel.replaceChildren();
    shown = '';
    logout.hidden = true;
    notice.hidden = true;
    state.textContent = '';
    login.hidden = false;
    el('login-error').textContent = message || '';
    input.focus();
  }

  function say(text, isError) {
    notice.textContent = text;
    notice.classList.toggle('alert', Boolean(isError));
    notice.hidden = false;
  }

  // Text being selected in the panel (an id to copy, say) is not swept away by the next refresh.
  function selecting() {
    const selection = window.getSelection();
    return Boolean(selection && !selection.isCollapsed && panel.contains(selection.anchorNode));
  }

  async function errorText(res) {
    try {
      const body = await res.json();
      if (body && body.error) return body.error.code + ': ' + body.error.message;
    } catch {}
    return 'HTTP ' + res.status;
  }

  async function load() {
    clearTimeout(timer);
    if (!token()) return;
    try {
      const res = await call('GET', '/console/panel');
      if (res.status === 401 || res.status === 403) return showLogin('The relay refused this token.');
      if (!res.ok) throw new Error(await errorText(res));
      const html = await res.text();
      if (!token()) return;
      login.hidden = true;
      panel.hidden = false;
      logout.hidden = false;
      state.classList.remove('alert');
      if (html !== shown && selecting()) {
        state.textContent = 'paused while text is selected';
      } else {
        // Unchanged figures leave the DOM alone, so a button under the pointer stays where it is.
        if (html !== shown) {
          panel.innerHTML = html;
          shown = html;
        }
        state.textContent = 'updated ' + new Date().toLocaleTimeString();
      }
    } catch (error) {
      state.textContent = 'cannot reach the relay (' + (error && error.message ? error.message : error) + '), retrying';
      state.classList.add('alert');
    }
    if (token() && !document.hidden) timer = setTimeout(refresh, POLL_MS);
  }

  // One load at a time, in order.
  function refresh() {
    queue = queue.then(load, load);
    return queue;
  }

  login.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = input.value.trim();
    input.value = '';
    if (!value) return;
    sessionStorage.setItem(KEY, value);
    el('login-error').textContent = '';
    state.textContent = 'loading…';
    refresh();
  });

  logout.addEventListener('click', () => showLogin());

  panel.addEventListener('click', async (event) => {
    const button = event.target.closest('button[data-url]');
    if (!button) return;
    const url = button.dataset.url;
    // The token goes to this relay's API and nowhere else.
    if (!url.startsWith('/v1/')) return;
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    const row = button.closest('tr');
    const what = row && row.dataset.change ? ' ' + row.dataset.change + ' (' + row.dataset.peer + ')' : '';
    button.disabled = true;
    try {
      const res = await call(button.dataset.method || 'POST', url);
      if (res.status === 401) return showLogin('The relay refused this token.');
      if (res.ok) say((button.dataset.done || 'Done') + what);
      else say('Refused' + what + ': ' + (await errorText(res)), true);
    } catch (error) {
      say('Request failed: ' + (error && error.message ? error.message : error), true);
    }
    await refresh();
  });

  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && token()) refresh();
  });

  if (token()) refresh();
  else showLogin();
})();
`;

export const CONSOLE_CSS = `:root {
  color-scheme: light dark;
  --fg: #1d2125; --muted: #6a737d; --bg: #fff; --line: #d8dde2; --head: #f4f6f8;
  --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --info: #0969da;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --muted: #8d96a0; --bg: #0d1117; --line: #30363d; --head: #161b22;
    --ok: #3fb950; --bad: #f85149; --warn: #d29922; --info: #58a6ff; }
}
body { margin: 0; color: var(--fg); background: var(--bg); }
[hidden] { display: none !important; }
header { display: flex; align-items: baseline; gap: 1rem; padding: .6rem 1.2rem; border-bottom: 1px solid var(--line); }
header h1 { font-size: 1.15rem; margin: 0; }
#logout { margin-left: auto; }
main, form, #notice, noscript p { margin: 1rem 1.2rem; }
form { display: grid; gap: .5rem; max-width: 26rem; }
h2 { font-size: 1rem; margin: 1.4rem 0 .5rem; }
section { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .35rem .5rem; border-bottom: 1px solid var(--line); }
th { background: var(--head); font-weight: 600; white-space: nowrap; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: var(--muted); }
.small { font-size: .85em; }
.alert { color: var(--bad); font-weight: 600; }
.path { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; overflow-wrap: anywhere; }
.action { font-weight: 600; }
.answer { color: var(--warn); font-size: .9em; overflow-wrap: anywhere; max-width: 28rem; }
.actions { white-space: nowrap; }
code { font-size: .9em; }
button { font: inherit; padding: .2rem .7rem; border: 1px solid var(--line); border-radius: 4px; background: var(--head); color: var(--fg); cursor: pointer; }
button:disabled { opacity: .5; cursor: wait; }
button.danger { color: var(--bad); }
input { font: inherit; padding: .3rem .5rem; }
.badge { display: inline-block; padding: 0 .45rem; border-radius: 999px; font-size: .8em; font-weight: 600; border: 1px solid currentColor; }
.badge.online, .badge.done { color: var(--ok); }
.badge.offline, .badge.unauthorized, .badge.conflict, .badge.failed { color: var(--bad); }
.badge.blocked, .badge.held, .badge.cancelled { color: var(--warn); }
.badge.running { color: var(--info); }
progress { width: 12rem; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
.chart { margin: 0; flex: 1 1 22rem; max-width: 40rem; }
.chart figcaption { font-size: .85em; color: var(--muted); }
.chart svg { width: 100%; height: auto; display: block; }
.chart .axis, .chart .grid { stroke: var(--line); }
.chart .grid { stroke-dasharray: 4 4; }
.chart .label { fill: var(--muted); font-size: 11px; }
.chart .line { fill: none; stroke: var(--c); stroke-width: 2; }
.legend { list-style: none; display: flex; flex-wrap: wrap; gap: 1rem; padding: 0; margin: 0 0 .4rem; }
.swatch { display: inline-block; width: .8rem; height: .8rem; margin-right: .35rem; border-radius: 2px; background: var(--c); vertical-align: -1px; }
.s0 { --c: #0969da; } .s1 { --c: #d1242f; } .s2 { --c: #1a7f37; } .s3 { --c: #9a6700; }
.s4 { --c: #8250df; } .s5 { --c: #bf3989; } .s6 { --c: #1b7c83; } .s7 { --c: #6e7781; }
`;
