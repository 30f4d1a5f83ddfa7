import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

/**
 * Debian's chromium driven by playwright-core, nothing downloaded: the status page's browser test
 * and its screenshot both start it here. Playwright gives it a fresh temporary profile.
 */
export const CHROMIUM = process.env.EDGESPOOL_CHROMIUM ?? "/usr/bin/chromium";

export const haveChromium = existsSync(CHROMIUM);

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
