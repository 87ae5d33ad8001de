import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type ApachePeer, apacheAvailable, peerConfig, startApache } from '../support/apache.js';
import { chromiumAvailable, launchChromium } from '../support/browser.js';
import { writeTree } from '../support/convergence.js';
import { postChange, waitFor } from '../support/node-client.js';
import { freePort } from '../support/ports.js';
import { ADMIN_TOKEN, auth, NODE_A_TOKEN, startTestRelay, type TestRelay } from '../support/relay.js';
import { describeWithServer } from '../support/servers.js';

// The web console as an operator uses it: headless Chromium (Debian's package) against a relay replaying to a
// real Apache and to a peer that is down. Writes test-results/console.png.

const RESULTS = fileURLToPath(new URL('../../test-results/', import.meta.url));
const DOWN_PASSWORD = 'down-peer-password-never-shown';

const missing = [
  apacheAvailable ? undefined : 'Apache httpd (apt-get install apache2)',
  chromiumAvailable ? undefined : 'Chromium (apt-get install chromium)',
].filter(Boolean);

describeWithServer(missing.join(' and ') || 'none', missing.length === 0, 'web console in a real browser', () => {
  let apache: ApachePeer;
  let t: TestRelay;
  let browser: Browser;

  beforeAll(async () => {
    apache = await startApache();
    const downPort = await freePort(); // nothing listens there: the peer is OFFLINE from its first attempt
    t = await startTestRelay({
      peers: [
        peerConfig(apache, 'apache'),
        {
          name: 'down',
          url: `http://127.0.0.1:${downPort}/`,
          username: 'relay',
          password: DOWN_PASSWORD,
          pingIntervalSeconds: 60,
        },
      ],
    });
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    await apache?.close();
  });

  async function change(id: string): Promise<{ peers: { peer: string; status: string }[] } | undefined> {
    const res = await fetch(`${t.url}/v1/changes/${id}`, { headers: auth(ADMIN_TOKEN) });
    return res.status === 404 ? undefined : ((await res.json()) as { peers: { peer: string; status: string }[] });
  }

  it('logs in with the admin token, shows both peers, and a skipped conflict disappears', async () => {
    // Prepare: a rename the peer refuses (its source never existed there), named like markup, and an upload
    // that waits behind it.
    const ghost = '/user_homes/<img src=x onerror=alert(1)> ünï 🚀 "q".txt';
    const conflict = await postChange(t.url, NODE_A_TOKEN, {
      action: 'rename',
      path: ghost,
      target: '/user_homes/found.txt',
    });
    const behind = await postChange(t.url, NODE_A_TOKEN, {
      action: 'upload',
      path: '/user_homes/found.txt',
      body: Buffer.from('newer'),
    });
    await waitFor(
      async () => (await change(conflict))?.peers.find((p) => p.peer === 'apache')?.status === 'CONFLICT',
      20_000,
      async () => JSON.stringify(await change(conflict)),
    );

    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => {
      // CSP violations and script errors land here.
      if (message.type() === 'error') problems.push(message.text());
    });
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.accept();
    });

    // A wrong token is refused, and the form comes back.
    await page.goto(`${t.url}/`);
    await page.fill('#token', 'not-the-admin-token-0123456789');
    await page.click('#login button[type=submit]');
    await page.locator('#login-error', { hasText: 'refused' }).waitFor();
    problems.length = 0; // the 401 above is logged by the browser as a failed resource

    // Act: log in.
    await page.fill('#token', ADMIN_TOKEN);
    await page.click('#login button[type=submit]');

    // Assess: both peers, with their state.
    const apacheRow = page.locator('#peers tr[data-peer="apache"]');
    const downRow = page.locator('#peers tr[data-peer="down"]');
    await apacheRow.locator('.badge', { hasText: 'ONLINE' }).waitFor();
    await downRow.locator('.badge', { hasText: 'OFFLINE' }).waitFor();
    expect(await page.locator('#login').isVisible()).toBe(false);
    expect(await downRow.locator('.answer').textContent()).toMatch(/ECONNREFUSED|connect/i);

    // The conflict with the peer's answer and its buttons; the upload behind it names its blocker.
    const stuck = page.locator(`#stuck tr[data-change="${conflict}"][data-peer="apache"]`);
    await stuck.waitFor();
    expect(await stuck.locator('.path').first().textContent()).toBe(ghost);
    expect(await stuck.locator('.answer').textContent()).not.toBe('');
    expect(await stuck.locator('button').allTextContents()).toEqual(['Retry', 'Skip']);
    const blocked = page.locator(`#stuck tr[data-change="${behind}"][data-peer="apache"]`);
    expect(await blocked.getAttribute('data-status')).toBe('BLOCKED');
    expect(await blocked.locator('.blocker').textContent()).toBe(conflict);
    // The path was shown as text, never parsed as markup.
    expect(await page.locator('#panel img').count()).toBe(0);
    // Changes/s and bytes/s, one line per peer in each.
    expect(await page.locator('#throughput svg').count()).toBe(2);
    expect(await page.locator('#throughput polyline').count()).toBe(4);

    // The token stays in the tab: not in the URL, not in a cookie, not in the page.
    expect(page.url()).toBe(`${t.url}/`);
    expect(await context.cookies()).toEqual([]);
    expect(await page.evaluate("sessionStorage.getItem('vfs-relay.admin-token')")).toBe(ADMIN_TOKEN);
    const html = await page.content();
    for (const secret of [ADMIN_TOKEN, NODE_A_TOKEN, apache.password, DOWN_PASSWORD])
      expect(html).not.toContain(secret);

    // Text selected in the panel (an id to copy) is not swept away by the next refresh.
    await page.evaluate(
      "getSelection().selectAllChildren(document.querySelector('#stuck tr[data-status=CONFLICT] code'))",
    );
    await page.locator('#state', { hasText: 'paused while text is selected' }).waitFor();
    expect(await page.evaluate('getSelection().toString()')).toBe(conflict);
    await page.evaluate('getSelection().removeAllRanges()');
    await page.locator('#state', { hasText: 'updated' }).waitFor();

    await mkdir(RESULTS, { recursive: true });
    await page.screenshot({ path: join(RESULTS, 'console.png'), fullPage: true });

    // Act: skip the conflict for the Apache peer.
    await stuck.getByRole('button', { name: 'Skip' }).click();

    // Assess: after a confirmation naming the change, it leaves the list, and what waited behind it replays.
    await stuck.waitFor({ state: 'detached' });
    await blocked.waitFor({ state: 'detached', timeout: 20_000 });
    expect(dialogs).toHaveLength(1);
    expect(dialogs[0]).toContain(ghost);
    expect(await page.locator('#notice').textContent()).toContain(`Skipped ${conflict}`);
    expect((await change(conflict))?.peers.map((p) => p.peer)).toEqual(['down']); // the down peer still waits
    await waitFor(async () => (await change(behind))?.peers.every((p) => p.peer === 'down') ?? true, 20_000);
    expect(await readFile(join(apache.root, 'user_homes/found.txt'), 'utf8')).toBe('newer');

    // A reload keeps the session; logging out forgets the token.
    await page.reload();
    await apacheRow.waitFor();
    await page.click('#logout');
    await page.locator('#login').waitFor();
    expect(await page.locator('#panel').isVisible()).toBe(false);
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    expect(problems).toEqual([]);
    await context.close();
  }, 90_000);

  it('shows the deletes the delete guard holds, with Release and Discard', async () => {
    // Prepare: a relay that lets one delete per window through; the next two are HELD.
    await writeTree(apache, { 'user_homes/g/a.txt': 'a', 'user_homes/g/b.txt': 'b', 'user_homes/g/c.txt': 'c' });
    const now = new Date('2026-03-01T10:00:00Z');
    const guarded = await startTestRelay(
      { peers: [peerConfig(apache, 'apache')], deleteGuard: { maxDeletes: 1, windowSeconds: 60 } },
      { now: () => now },
    );
    const context = await browser.newContext();
    try {
      const ids: string[] = [];
      for (const name of ['a', 'b', 'c']) {
        ids.push(await postChange(guarded.url, NODE_A_TOKEN, { action: 'delete', path: `/user_homes/g/${name}.txt` }));
      }
      await waitFor(async () => !existsSync(join(apache.root, 'user_homes/g/a.txt')), 20_000);
      const page = await context.newPage();
      page.on('dialog', (dialog) => void dialog.accept());
      await page.goto(`${guarded.url}/`);
      await page.fill('#token', ADMIN_TOKEN);
      await page.click('#login button[type=submit]');

      // Assess: the Held count, and each held delete with its reason and its two buttons.
      const row = page.locator('#peers tr[data-peer="apache"]');
      await row.waitFor();
      const b = page.locator(`#stuck tr[data-change="${ids[1]}"][data-peer="apache"]`);
      const c = page.locator(`#stuck tr[data-change="${ids[2]}"][data-peer="apache"]`);
      await b.waitFor();
      expect(await b.getAttribute('data-status')).toBe('HELD');
      expect(await b.locator('.answer').textContent()).toMatch(/delete guard: node node-a sent more than 1/);
      expect(await b.locator('button').allTextContents()).toEqual(['Release', 'Discard']);

      // Act: release one, discard the other.
      await b.getByRole('button', { name: 'Release' }).click();
      await b.waitFor({ state: 'detached' });
      await c.getByRole('button', { name: 'Discard' }).click();
      await c.waitFor({ state: 'detached' });

      // Assess: the released delete reached the peer, the discarded one never did.
      await waitFor(async () => !existsSync(join(apache.root, 'user_homes/g/b.txt')), 20_000);
      expect(existsSync(join(apache.root, 'user_homes/g/c.txt'))).toBe(true);
    } finally {
      await context.close();
      await guarded.close();
    }
  }, 90_000);
});
