import { join } from "node:path";
import type { MqttClient } from "mqtt";
import type { Browser, Page } from "playwright-core";
import { afterEach, describe, expect, it } from "vitest";
import { haveChromium, launchChromium } from "../../scripts/status-page/browser.js";
import { type AgentProcess, freePort, tempDir, waitForPort } from "../helpers/agent-process.js";
import { connectPublishers } from "../helpers/mqtt-publisher.js";
import {
  agentConfig,
  brokerSource,
  fileSink,
  httpSink,
  startAgentProcess,
  stopTorture,
} from "../helpers/reliability-agent.js";
import { NdjsonReceiver } from "../helpers/reliability-http.js";

/**
 * The status page in a real browser (Debian's chromium, headless, via playwright-core): a real
 * agent process, readings published over MQTT, the page showing each sensor and its value, the
 * value changing live, and the http sink turning unhealthy when its endpoint goes away. On CI a
 * missing chromium fails the test instead of skipping it.
 */

const CI = process.env.CI === "true";

let agent: AgentProcess | undefined;
let receiver: NdjsonReceiver | undefined;
let browser: Browser | undefined;
let clients: MqttClient[] = [];
afterEach(async () => {
  await browser?.close();
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
  await stopTorture({ agent, receiver });
  agent = receiver = browser = undefined;
  clients = [];
});

/** Waits until the element matching `selector` has text containing `text` (the page polls every 2 s). */
async function waitForText(page: Page, selector: string, text: string): Promise<void> {
  try {
    // A string, evaluated in the page: this file is compiled without the DOM's types.
    const check = `document.querySelector(${JSON.stringify(selector)})?.textContent?.includes(${JSON.stringify(text)}) === true`;
    await page.waitForFunction(check, undefined, { timeout: 30_000, polling: 100 });
  } catch (err) {
    const actual = await page
      .locator(selector)
      .first()
      .textContent({ timeout: 1000 })
      .catch(() => null);
    throw new Error(`${selector} never showed "${text}" (shows ${JSON.stringify(actual)}): ${String(err)}`);
  }
}

describe("status page in a real browser", () => {
  it.skipIf(!haveChromium && !CI)("shows sensors, live values and a sink going unhealthy", async () => {
    expect(haveChromium, "chromium is required on CI (apt-get install chromium)").toBe(true);
    const dir = tempDir("edgespool-page-");
    const port = await freePort();
    const metricsPort = await freePort();
    receiver = new NdjsonReceiver();
    await receiver.start(0);
    const cfg = agentConfig(dir, {
      sources: [brokerSource(port, { topicTemplate: "sensors/{room}/{sensor}", sensor: "{room}/{sensor}" })],
      sinks: [fileSink(dir), httpSink(receiver.url, { timeoutMs: 1000 })],
      metricsPort,
    });
    // A sink counts as failing once its writes have failed for a second (default: 5 min).
    agent = await startAgentProcess(dir, { ...cfg, health: { sinkFailingMs: "1s" } }, port);
    await waitForPort(metricsPort);
    clients = await connectPublishers(port, 1, `page-${process.pid}`);
    const mqtt = clients[0]!;
    const publish = (topic: string, body: object) =>
      mqtt.publishAsync(topic, JSON.stringify(body), { qos: 1 });
    await publish("sensors/kitchen/t1", { temperature: 21.5, humidity: 40.25 });
    await publish("sensors/hall/t1", { temperature: 19.75 });

    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, locale: "en-US" });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${metricsPort}/`);

    await waitForText(page, '[data-sensor="kitchen/t1"] .value', "21.5 °C");
    await waitForText(page, '[data-sensor="kitchen/t1"] .value', "40.25 %RH");
    await waitForText(page, '[data-sensor="hall/t1"] .value', "19.75 °C");
    await waitForText(page, '[data-sink="upstream"] .state', "ok");
    await waitForText(page, '[data-sink="files"] .state', "ok");
    await waitForText(page, "#health", "ok");
    // Each sensor card has drawn a chart.
    expect(await page.locator('[data-sensor="kitchen/t1"] canvas').count()).toBeGreaterThan(0);

    // A new value shows up without reloading the page.
    await publish("sensors/kitchen/t1", { temperature: 23.75, humidity: 41 });
    await waitForText(page, '[data-sensor="kitchen/t1"] .value', "23.75 °C");

    // The http sink's endpoint goes away: the next batch fails and the page says so.
    await receiver.stop();
    await publish("sensors/hall/t1", { temperature: 20.5 });
    await waitForText(page, '[data-sink="upstream"] .state', "failing");
    await waitForText(page, "#health", "failing");
    await waitForText(page, '[data-sink="files"] .state', "ok");
    await waitForText(page, '[data-sensor="hall/t1"] .value', "20.5 °C");
    expect(errors).toEqual([]);
    await page.screenshot({ path: join(dir, "status-page.png"), fullPage: true });
  });
});
