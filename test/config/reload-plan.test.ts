import { describe, expect, it } from "vitest";
import { validateConfig } from "../../agent/config/load.js";
import { planReload } from "../../agent/reload.js";

const base = () => ({
  agentId: "pi-kitchen",
  dataDir: "/tmp/x",
  sources: [
    { type: "mqtt-broker", id: "broker", port: 1883 },
    { type: "host", id: "host" },
  ],
  sinks: [
    { type: "stdout", id: "out" },
    { type: "file", id: "files", dir: "/tmp/out" },
  ],
});
const cfg = (raw: object) => validateConfig(raw, "t", {});

describe("planReload", () => {
  it("compares sources and sinks per id, structurally (defaults filled, order ignored)", () => {
    const now = cfg(base());
    const next = cfg({
      ...base(),
      // Same broker written with its defaults spelled out, listed second: unchanged.
      sources: [
        { type: "host", id: "host", intervalMs: 5000 },
        { type: "mqtt-broker", id: "broker", port: 1883, host: "127.0.0.1", topics: ["#"] },
      ],
      sinks: [
        { type: "file", id: "files", dir: "/tmp/out", maxBatchRecords: 10 },
        { type: "http", id: "up", url: "http://127.0.0.1:1/x" },
      ],
    });
    const plan = planReload(now, next);
    expect(plan.restartOnly).toEqual([]);
    expect(plan.sources.unchanged).toEqual(["broker"]);
    expect(plan.sources.changed.map((s) => s.id)).toEqual(["host"]);
    expect(plan.sinks.changed.map((s) => s.id)).toEqual(["files"]);
    expect(plan.sinks.added.map((s) => s.id)).toEqual(["up"]);
    expect(plan.sinks.removed.map((s) => s.id)).toEqual(["out"]);
  });

  it("names each field that needs a restart; auth and shutdownTimeoutMs are live", () => {
    const now = cfg(base());
    const next = cfg({
      ...base(),
      dataDir: "/tmp/y",
      spool: { maxBytes: "1MiB" },
      http: { port: 9000, auth: { token: "0123456789abcdef" } },
      shutdownTimeoutMs: 1,
    });
    expect(planReload(now, next).restartOnly).toEqual(["dataDir", "spool.maxBytes", "http.port"]);
  });
});
