import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { MqttClient } from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { readNdjsonDir } from "../../agent/sinks/file/read.js";
import { type AgentProcess, freePort, killHard, portOpen, tempDir } from "../helpers/agent-process.js";
import { connectPublishers } from "../helpers/mqtt-publisher.js";
import {
  agentConfig,
  brokerSource,
  fileSink,
  httpSink,
  startAgentProcess,
  stopTorture,
} from "../helpers/reliability-agent.js";
import { describeDelivery, waitForDelivery } from "../helpers/reliability-check.js";
import { NdjsonReceiver } from "../helpers/reliability-http.js";
import { FleetLoad, sleep, waitFor } from "../helpers/reliability-load.js";

/**
 * SIGHUP reload on a real agent process: publishers stay connected through a reload that adds a
 * sink and changes another, every acknowledged reading reaches the sinks configured when it was
 * acknowledged, an invalid file is refused with its problems while the old config keeps running,
 * and removing a source closes its port.
 */

let agent: AgentProcess | undefined;
let load: FleetLoad | undefined;
let receiver: NdjsonReceiver | undefined;
let watchers: MqttClient[] = [];
afterEach(async () => {
  await Promise.all(watchers.map((c) => c.endAsync(true).catch(() => {})));
  await stopTorture({ load, agent, receiver });
  agent = load = receiver = undefined;
  watchers = [];
});

/** Waits until the agent's stderr has `text` `times` times (reload log lines). */
async function waitForLog(p: AgentProcess, text: string, times = 1): Promise<void> {
  if (!(await waitFor(() => p.stderr().split(text).length - 1 >= times, 20_000, 50)))
    throw new Error(`no "${text}" ×${times} in the agent's log:\n${p.stderr()}`);
}

describe("reload on SIGHUP", () => {
  it("adds and changes sinks without dropping connections or acknowledged readings", async () => {
    const dir = tempDir("edgespool-reload-");
    const port = await freePort();
    const configFile = join(dir, "config.json");
    const base = agentConfig(dir, { sources: [brokerSource(port)], sinks: [fileSink(dir)] });
    agent = await startAgentProcess(dir, { ...base, log: { level: "info" } }, port);

    // A connection that must survive every reload that leaves its source alone.
    watchers = await connectPublishers(port, 1, `reload-watch-${process.pid}`);
    let closes = 0;
    watchers[0]!.on("close", () => closes++);
    load = new FleetLoad({ port, ratePerSec: 300, clients: 2, clientIdPrefix: `reload${process.pid}` });
    load.start();
    await sleep(1500);

    receiver = new NdjsonReceiver();
    await receiver.start(0);
    const reloaded = {
      ...base,
      log: { level: "info" },
      // The file sink changes (batch size); the http sink is new.
      sinks: [fileSink(dir, { maxBatchRecords: 100 }), httpSink(receiver.url)],
    };
    writeFileSync(configFile, JSON.stringify(reloaded));
    agent.child.kill("SIGHUP");
    await waitForLog(agent, '"msg":"config reloaded"');
    expect(agent.stderr()).toContain('"changed":["files"]');
    expect(agent.stderr()).toContain('"added":["upstream"]');
    // Everything acknowledged from here on was committed after the http sink's cursor existed.
    const before = new Set(load.acked.keys());
    await sleep(1500);
    await load.stop();

    const afterReload = new Map([...load.acked].filter(([id]) => !before.has(id)));
    expect(afterReload.size).toBeGreaterThan(0);
    const files = await waitForDelivery(() => readNdjsonDir(join(dir, "out")), load.acked, 30_000);
    expect(files.missing, describeDelivery(files, load.acked.size)).toEqual([]);
    expect(files.orderViolations).toEqual([]);
    const upstream = await waitForDelivery(() => receiver!.lines, afterReload, 30_000);
    expect(upstream.missing, describeDelivery(upstream, afterReload.size)).toEqual([]);
    expect(closes).toBe(0);
    expect(watchers[0]!.connected).toBe(true);
    expect(load.errors).toBe(0);
    await watchers[0]!.publishAsync("sensors/watch/t1", JSON.stringify({ temperature: 1.5 }), { qos: 1 });
  });

  it("refuses an invalid config with every problem and keeps running; removing a source closes its port", async () => {
    const dir = tempDir("edgespool-reload-bad-");
    const port = await freePort();
    const configFile = join(dir, "config.json");
    const base = { ...agentConfig(dir, { sources: [brokerSource(port)], sinks: [fileSink(dir)] }) };
    agent = await startAgentProcess(dir, base, port);
    watchers = await connectPublishers(port, 1, `reload-bad-${process.pid}`);
    let closes = 0;
    watchers[0]!.on("close", () => closes++);

    writeFileSync(
      configFile,
      JSON.stringify({ ...base, sinks: [fileSink(dir, { maxBatchRecords: -1, colour: "red" })] }),
    );
    agent.child.kill("SIGHUP");
    await waitForLog(agent, "config reload refused");
    expect(agent.stderr()).toContain("sinks[0].maxBatchRecords: expected a positive integer");
    expect(agent.stderr()).toContain("sinks[0].colour: unknown key");

    // A restart-only change is refused too, by name.
    writeFileSync(configFile, JSON.stringify({ ...base, dataDir: join(dir, "elsewhere") }));
    agent.child.kill("SIGHUP");
    await waitForLog(agent, "config reload refused", 2);
    expect(agent.stderr()).toMatch(/dataDir can only change with a restart/);

    // Still running the old config: a reading is acknowledged and reaches the file sink.
    await watchers[0]!.publishAsync("sensors/a/b", JSON.stringify({ temperature: 22.5 }), { qos: 1 });
    const shipped = () => readNdjsonDir(join(dir, "out")).some((l) => l.includes("22.5"));
    expect(await waitFor(shipped, 20_000)).toBe(true);
    expect(closes).toBe(0);

    writeFileSync(configFile, JSON.stringify({ ...base, sources: [] }));
    agent.child.kill("SIGHUP");
    await waitForLog(agent, '"msg":"config reloaded"');
    expect(agent.stderr()).toContain('"removed":["local-mqtt"]');
    expect(await portOpen(port)).toBe(false);
    expect(agent.child.exitCode).toBe(null);
    await killHard(agent);
  });
});
