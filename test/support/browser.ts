import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/**
 * Headless Chromium from Debian's `chromium` package, driven by playwright-core. Playwright never downloads a
 * browser here: the machines and many users' networks are closed, so the suite uses the distribution's binary.
 */
export const CHROMIUM = '/usr/bin/chromium';

export const chromiumAvailable: boolean = existsSync(CHROMIUM);

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
}
