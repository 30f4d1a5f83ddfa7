import { join } from "node:path";
import mqtt from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { validateConfig } from "../../agent/config/load.js";
import { type AgentHandle, startAgent } from "../../agent/runtime.js";
import type { MqttBrokerSource } from "../../agent/sources/mqtt-broker/index.js";
import { freePort, tempDir } from "../helpers/agent-process.js";
import { captureLog } from "../helpers/capture-log.js";
import { waitFor } from "../helpers/reliability-load.js";

/**
 * What a reload does to the spool's cursors, in process: a changed sink keeps its cursor; a
 * removed sink's cursor goes, so the records only it still needed are deleted; a restart-only
 * change leaves everything as it was.
 */

let agent: AgentHandle | undefined;
afterEach(async () => {
  await agent?.stop();
  agent = undefined;
});

describe("reload and the spool's cursors", () => {
  it("keeps a changed sink's cursor and drops a removed sink's, releasing what only it held", async () => {
    const dir = tempDir("edgespool-reload-cursors-");
    const deadPort = await freePort(); // nothing listens: the http sink cannot ship
    const raw = {
      agentId: "reload-cursors",
      dataDir: join(dir, "data"),
      sources: [{ type: "mqtt-broker", id: "broker", port: 0, topics: ["sensors/#"] }],
      sinks: [
        { type: "file", id: "files", dir: join(dir, "out"), maxBufferAgeMs: 10 },
        {
          type: "http",
          id: "upstream",
          url: `http://127.0.0.1:${deadPort}/in`,
          maxBufferAgeMs: 10,
          retry: { initialMs: 50, maxMs: 200 },
        },
      ],
      http: { enabled: false },
      shutdownTimeoutMs: 500,
    };
    const config = validateConfig(raw, "t", {});
    const { log, count } = captureLog("info");
    agent = await startAgent(config, { log });
    const port = (agent.sources[0] as MqttBrokerSource).port;
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
    for (let i = 0; i < 20; i++)
      await client.publishAsync(`sensors/s${i}`, JSON.stringify({ temperature: i }), { qos: 1 });
    await client.endAsync();
    const sink = (id: string) => agent!.stats().sinks.find((s) => s.sink === id);
    expect(await waitFor(() => sink("files")?.depth === 0, 20_000, 20), "file sink shipped everything").toBe(
      true,
    );
    expect(sink("upstream")?.depth).toBe(20);
    expect(agent.stats().records).toBe(20);
    const filesCursor = agent.spool.cursor("files");

    // Changed: a different batch size. Same cursor, nothing re-shipped.
    const changed = validateConfig(
      { ...raw, sinks: [{ ...raw.sinks[0], maxBatchRecords: 7 }, raw.sinks[1]] },
      "t",
      {},
    );
    await agent.reload(changed);
    expect(agent.spool.cursor("files")).toBe(filesCursor);
    expect(agent.config.sinks[0]!.maxBatchRecords).toBe(7);

    // A restart-only change is refused as a whole: the http sink's removal is not applied either.
    const refused = await agent.reload(
      validateConfig({ ...raw, dataDir: join(dir, "other"), sinks: [changed.sinks[0]] }, "t", {}),
    );
    expect(refused).toBe(changed);
    expect(count(/config reload refused: dataDir/)).toBe(1);
    expect(sink("upstream")?.depth).toBe(20);

    // Removed: its cursor goes, and the 20 records it alone held are deleted.
    await agent.reload(validateConfig({ ...raw, sinks: [changed.sinks[0]] }, "t", {}));
    expect(agent.stats().sinks.map((s) => s.sink)).toEqual(["files"]);
    expect(agent.stats().records).toBe(0);
    expect(agent.telemetry.health.snapshot().components.some((c) => c.name === "upstream")).toBe(false);
  });
});
