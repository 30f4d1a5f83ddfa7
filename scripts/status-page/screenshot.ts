import { launchChromium } from "./browser.js";

/**
 * Saves a screenshot of a running agent's status page, e.g. after a few minutes of `npm start`:
 *   node dist/scripts/status-page/screenshot.js http://127.0.0.1:9464/ scripts/status-page.png
 */
async function main(): Promise<void> {
  const [url = "http://127.0.0.1:9464/", out = "scripts/status-page.png"] = process.argv.slice(2);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
    await page.goto(url);
    // Wait for the first poll to have drawn the sensors, then for one more to settle the charts.
    await page.waitForSelector("[data-sensor]");
    await page.waitForTimeout(2500);
    await page.screenshot({ path: out, fullPage: true });
    process.stdout.write(`${out}\n`);
  } finally {
    await browser.close();
  }
}

await main();
