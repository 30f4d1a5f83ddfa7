import { Writable } from "node:stream";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { validateConfig } from "../../agent/config/load.js";
import { type AgentHandle, startAgent } from "../../agent/runtime.js";
import { createLogger } from "../../agent/telemetry/logger.js";
import type { StatusDocument } from "../../agent/telemetry/status-page.js";
import { tempDir } from "../helpers/agent-process.js";
import { captureLog } from "../helpers/capture-log.js";
import mqtt from "mqtt";
import type { MqttBrokerSource } from "../../agent/sources/mqtt-broker/index.js";

/** /api/status and the page's routes on an in-process agent, with token auth on. */

const TOKEN = "status-token-0123456789";
let agent: AgentHandle | undefined;
afterEach(async () => {
  await agent?.stop();
  agent = undefined;
});

describe("status page routes", () => {
  it("serves the page, its assets and /api/status behind the token; /metrics and /healthz stay open", async () => {
    const dir = tempDir("edgespool-status-api-");
    const config = validateConfig(
      {
        agentId: "status-test",
        dataDir: join(dir, "data"),
        sources: [{ type: "mqtt-broker", id: "broker", port: 0, topics: ["sensors/#"] }],
        sinks: [{ type: "file", id: "files", dir: join(dir, "out"), maxBufferAgeMs: 10 }],
        http: { port: 0, auth: { token: TOKEN } },
      },
      "t",
      {},
    );
    agent = await startAgent(config, { log: captureLog("warn").log });
    const base = agent.http!.url;
    const get = (path: string, headers: Record<string, string> = {}) => fetch(`${base}${path}`, { headers });

    expect((await get("/")).status).toBe(401);
    expect((await get("/api/status")).status).toBe(401);
    expect((await get("/api/status", { authorization: "Bearer wrong-token-000000000" })).status).toBe(401);
    const page = await get(`/?token=${TOKEN}`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<script src="assets/app.js">');
    for (const asset of [
      "/assets/app.js",
      "/assets/style.css",
      "/assets/uplot.min.js",
      "/assets/uplot.min.css",
    ])
      expect((await get(asset)).status, asset).toBe(200);
    expect((await get("/metrics")).status).toBe(200);
    expect((await get("/healthz")).status).toBe(200);

    const port = (agent.sources[0] as MqttBrokerSource).port;
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
    await client.publishAsync("sensors/attic", JSON.stringify({ temperature: 30.5, humidity: 20 }), {
      qos: 1,
    });
    await client.publishAsync("sensors/attic", "{not json", { qos: 1 });
    await client.endAsync();
    const res = await get("/api/status", { authorization: `Bearer ${TOKEN}` });
    expect(res.headers.get("content-type")).toBe("application/json");
    const doc = (await res.json()) as StatusDocument;
    expect(doc.agentId).toBe("status-test");
    expect(doc.sensors).toMatchObject([
      { sensor: "sensors/attic", source: "broker", temperature: 30.5, humidity: 20 },
    ]);
    expect(doc.sensors[0]!.points).toHaveLength(1);
    expect(doc.ingest.readings).toBe(1);
    expect(doc.ingest.rejects).toEqual([{ source: "broker", reason: "invalid-json", count: 1 }]);
    expect(doc.sinks.map((s) => [s.id, s.type])).toEqual([["files", "file"]]);
    expect(doc.spool.lastSeq).toBe(1);
    expect(doc.health.status).toBe("ok");
    // `since` limits the history to recent buckets.
    const later = (await (
      await get(`/api/status?since=${doc.now + 3_600_000}`, { authorization: `Bearer ${TOKEN}` })
    ).json()) as StatusDocument;
    expect(later.sensors[0]!.points).toEqual([]);
  });
});

describe("logger", () => {
  it("redacts the status page token and password wherever a config is logged", () => {
    let out = "";
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        out += chunk.toString();
        done();
      },
    });
    const log = createLogger({ level: "info", pretty: false, destination });
    log.info({ http: { auth: { token: TOKEN } } }, "x");
    log.info({ http: { auth: { username: "pi", password: "hunter22" } } }, "y");
    expect(out).not.toContain(TOKEN);
    expect(out).not.toContain("hunter22");
  });
});
