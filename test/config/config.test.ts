import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, validateConfig } from "../../agent/config/load.js";

const base = () => ({
  agentId: "pi-kitchen",
  dataDir: "/tmp/x",
  sources: [{ type: "mqtt-broker", id: "local-mqtt" }],
  sinks: [{ type: "stdout", id: "out" }],
});

function problems(raw: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    validateConfig(raw, "test.json", env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe("config validation", () => {
  it("accepts a minimal config and fills defaults", () => {
    const cfg = validateConfig(base(), "t", {});
    expect(cfg.spool.maxBytes).toBe(512 * 1024 * 1024);
    expect(cfg.spool.maxAgeMs).toBe(24 * 3600 * 1000);
    expect(cfg.spool.onFull).toBe("drop-oldest");
    expect(cfg.http).toEqual({ enabled: true, host: "127.0.0.1", port: 9464, maxChartSensors: 200 });
    expect(cfg.sinks[0]!.maxBatchRecords).toBe(500);
    expect(Object.isFrozen(cfg.sinks[0])).toBe(true);
  });

  it("reports a wrong number with its path", () => {
    const raw = base();
    (raw.sinks[0] as Record<string, unknown>).maxBatchRecords = -3;
    expect(problems(raw)).toEqual(["sinks[0].maxBatchRecords: expected a positive integer"]);
  });

  it("rejects unknown keys at every level, naming each", () => {
    const raw = { ...base(), colour: "blue", spool: { maxbytes: 5 } };
    (raw.sources[0] as Record<string, unknown>).prot = 1884;
    expect(problems(raw).sort()).toEqual([
      "colour: unknown key",
      "sources[0].prot: unknown key",
      "spool.maxbytes: unknown key",
    ]);
  });

  it("lists every problem at once", () => {
    const raw = { ...base(), spool: { onFull: "explode", maxAgeMs: "forever" }, http: { port: 70000 } };
    const p = problems(raw);
    expect(p).toHaveLength(3);
    expect(p.some((x) => x.startsWith("spool.onFull:"))).toBe(true);
    expect(p).toContain('spool.maxAgeMs: expected a duration like "30s", "24h", got "forever"');
    expect(p).toContain("http.port: expected a port number 0-65535");
  });

  it("names the valid types for an unknown source or sink type", () => {
    const raw = base();
    (raw.sinks[0] as Record<string, unknown>).type = "kafka";
    const [p] = problems(raw);
    expect(p).toMatch(/^sinks\[0\].type: expected a sink type: .*stdout/);
  });

  it("requires at least one sink and unique ids", () => {
    expect(problems({ ...base(), sinks: [] })).toEqual(["sinks: expected at least one sink"]);
    const raw = { ...base(), sinks: [{ type: "stdout", id: "local-mqtt" }] };
    expect(problems(raw)).toEqual(['sinks[0].id: duplicate id "local-mqtt" (also sources[0])']);
  });

  it("parses durations and sizes", () => {
    const cfg = validateConfig({ ...base(), spool: { maxAgeMs: "90m", maxBytes: "64KiB" } }, "t", {});
    expect(cfg.spool.maxAgeMs).toBe(90 * 60_000);
    expect(cfg.spool.maxBytes).toBe(65536);
  });

  it("substitutes ${ENV} placeholders and reports unset ones by path", () => {
    const raw = { ...base(), agentId: "${AGENT}", dataDir: "${DATA:-/var/lib/edgespool}" };
    const cfg = validateConfig(raw, "t", { AGENT: "pi-hall" });
    expect(cfg.agentId).toBe("pi-hall");
    expect(cfg.dataDir).toBe("/var/lib/edgespool");
    expect(problems(raw, {})).toContain("agentId: environment variable AGENT is not set");
  });

  it("reads YAML by extension and reports unparsable files", () => {
    const dir = mkdtempSync(join(tmpdir(), "edgespool-cfg-"));
    const y = join(dir, "a.yaml");
    writeFileSync(y, "agentId: pi-yaml\nsinks:\n  - type: stdout\n    id: out\n");
    expect(loadConfig(y, {}).agentId).toBe("pi-yaml");
    const j = join(dir, "b.json");
    writeFileSync(j, "{ not json");
    expect(() => loadConfig(j, {})).toThrow(/not valid JSON/);
    expect(() => loadConfig(join(dir, "missing.json"), {})).toThrow(/cannot read: ENOENT/);
  });

  it("accepts every example config shipped in config/", async () => {
    const { readdirSync } = await import("node:fs");
    const files = readdirSync("config");
    // Every file there is a config users copy (and the package ships): none may be skipped here.
    expect(files.filter((f) => !/\.(json|ya?ml)$/.test(f))).toEqual([]);
    expect(files).toContain("default.json");
    expect(files).toContain("example.yaml");
    // shared-network.json has no defaults for its secrets on purpose: unset, the agent must not start.
    const secrets = {
      EDGESPOOL_UPSTREAM_TOKEN: "upstream-token",
      EDGESPOOL_SPOOL_KEY: "0123456789abcdef0123456789abcdef",
    };
    for (const f of files) {
      expect(() =>
        loadConfig(join("config", f), {
          KINESIS_ENDPOINT: "http://127.0.0.1:4567",
          HOME: "/root",
          ...secrets,
        }),
      ).not.toThrow();
    }
    expect(() => loadConfig(join("config", "shared-network.json"), {})).toThrow(
      /spool\.key: environment variable EDGESPOOL_SPOOL_KEY is not set/,
    );
  });
});

describe("transforms in config", () => {
  it("reports a bad filter expression with its path at check time", () => {
    const raw = base();
    (raw.sinks[0] as Record<string, unknown>).transforms = [
      { type: "filter", expression: "temperature >= 35" },
      { type: "filter", expression: "temperature >=" },
      { type: "filter", expression: "system(1)" },
    ];
    const p = problems(raw);
    expect(p).toHaveLength(2);
    expect(p[0]).toMatch(/^sinks\[0\]\.transforms\[1\]\.expression: /);
    expect(p[1]).toMatch(/^sinks\[0\]\.transforms\[2\]\.expression: unknown function system\(\)/);
  });
});
