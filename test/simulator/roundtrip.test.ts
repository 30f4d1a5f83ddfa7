import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { validateConfig } from "../../agent/config/load.js";
import { truthId } from "../helpers/truth-id.js";
import type { CanonicalRecord } from "../../agent/record/record.js";
import { type AgentHandle, startAgent } from "../../agent/runtime.js";
import { readNdjsonDir } from "../../agent/sinks/file/read.js";
import type { MqttBrokerSource } from "../../agent/sources/mqtt-broker/index.js";
import { silentLogger } from "../../agent/telemetry/logger.js";
import type { FaultRates } from "../../simulator/faults.js";
import { createFleet, type TruthReading } from "../../simulator/fleet.js";
import { createMqttOutput } from "../../simulator/outputs/mqtt.js";
import { runFleet } from "../../simulator/run.js";
import { collectTruth } from "../../simulator/truth.js";
import { waitFor } from "./broker.js";

/**
 * The simulator publishing with faults into the agent's embedded broker: every reading valid in
 * ground truth is in the file sink's output exactly once by id, and malformed ones are rejects.
 */

const START = Date.parse("2026-11-20T08:00:00Z");
/** EDGESPOOL_SOAK=1 runs the round trips with ten times the readings. */
const SCALE = process.env.EDGESPOOL_SOAK === "1" ? 10 : 1;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function agent(): Promise<{ handle: AgentHandle; port: number; out: string }> {
  const dir = mkdtempSync(join(tmpdir(), "edgespool-sim-rt-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, "out");
  const config = validateConfig({
    agentId: "rt",
    dataDir: join(dir, "spool"),
    sources: [
      {
        type: "mqtt-broker",
        id: "local-mqtt",
        port: 0,
        topics: ["sensors/#"],
        topicTemplate: "sensors/{room}/{sensor}/temperature",
        sensor: "{room}/{sensor}",
      },
    ],
    // The spool de-duplicates against what it still holds. Large, slow batches keep most records
    // in it well past the back-to-back duplicate copies; a redelivery arriving after its first
    // copy was shipped and deleted is shipped again, with the same id (at-least-once).
    sinks: [
      {
        type: "file",
        id: "files",
        dir: out,
        maxBufferAgeMs: 2000,
        maxBatchRecords: 100_000,
        maxBatchBytes: "64MiB",
      },
    ],
    http: { enabled: false },
  });
  const handle = await startAgent(config, { log: silentLogger() });
  cleanups.push(() => handle.stop());
  return { handle, port: (handle.sources[0] as MqttBrokerSource).port, out };
}

async function rejects(handle: AgentHandle): Promise<Map<string, number>> {
  const m = new Map<string, number>();
  for (const v of (await handle.telemetry.rejected.get()).values) m.set(String(v.labels.reason), v.value);
  return m;
}

async function roundTrip(faults: Partial<FaultRates>, readings: number) {
  const { handle, port, out } = await agent();
  const fleet = createFleet({
    seed: 21,
    start: START,
    rooms: 6,
    sensorsPerRoom: 2,
    intervalMs: 2000,
    humidity: true,
    faults,
  });
  const output = createMqttOutput({
    url: `mqtt://127.0.0.1:${port}`,
    topic: "sensors/{room}/{sensor}/temperature",
    qos: 1,
    clients: "device",
    devices: fleet.devices,
    reconnectPeriodMs: 100,
    clientIdPrefix: "rt",
  });
  const truth: TruthReading[] = [];
  await output.open();
  cleanups.push(() => output.close());
  const res = await runFleet(fleet, output, {
    speed: 400,
    count: readings,
    tickMs: 10,
    truth: collectTruth(truth),
  });
  await output.close();
  const valid = truth.filter((t) => t.valid);
  const expected = new Map(valid.map((t) => [truthId(t), t]));
  await waitFor(() => {
    const st = handle.stats();
    return st.sinks.every((s) => s.depth === 0) && readNdjsonDir(out).length >= expected.size;
  }, 30_000);
  await handle.stop();
  const records = readNdjsonDir(out).map((l) => JSON.parse(l) as CanonicalRecord);
  return { handle, res, truth, expected, records, rejected: await rejects(handle) };
}

const count = (m: Map<string, number>, ...reasons: string[]) =>
  reasons.reduce((s, r) => s + (m.get(r) ?? 0), 0);

describe("simulator → agent round trip", () => {
  it("stores every valid reading exactly once and counts every malformed one as a reject", async () => {
    const { truth, expected, records, rejected } = await roundTrip(
      { dropout: 0.03, stuck: 0.03, spike: 0.03, duplicate: 0.08, reorder: 0.05, malformed: 0.05 },
      1500 * SCALE,
    );
    expect(truth.length).toBe(1500 * SCALE);
    const ids = records.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    const missing = [...expected.keys()].filter((id) => !ids.includes(id));
    expect(missing).toEqual([]);
    // Whatever else is stored is a DS18B20 85 °C power-on value (the parser's range admits it).
    const extra = records.filter((r) => !expected.has(r.id));
    for (const r of extra) expect(r.temperature).toBe(85);
    const sent = (pred: (t: TruthReading) => boolean) => truth.filter(pred).reduce((s, t) => s + t.copies, 0);
    const malformed = sent((t) => t.malformed !== undefined);
    expect(malformed).toBeGreaterThan(30);
    expect(
      count(
        rejected,
        "invalid-json",
        "invalid-utf8",
        "wrong-type",
        "not-finite",
        "missing-field",
        "bad-format",
      ),
    ).toBe(malformed);
    // A −127 °C reading that is also malformed was counted above, under its parse error.
    expect(count(rejected, "out-of-range")).toBe(
      sent((t) => t.spike === "ds18b20-disconnected" && t.malformed === undefined),
    );
    // Stored values are what the devices sent.
    for (const r of records) {
      const t = expected.get(r.id);
      if (t) expect([r.sensor, r.temperature, Date.parse(r.ts)]).toEqual([t.sensor, t.temperature, t.ts]);
    }
  });

  it("loses nothing valid through oversized payloads and reconnect storms (at least once)", async () => {
    const { res, expected, records, truth, rejected } = await roundTrip(
      { duplicate: 0.05, malformed: 0.03, oversize: 0.01, "reconnect-storm": 60 },
      1200 * SCALE,
    );
    expect(res.storms).toBeGreaterThan(0);
    expect(truth.some((t) => t.faults.includes("oversize"))).toBe(true);
    // At least once: a QoS 1 redelivery after a storm can reach the agent after the first copy
    // was shipped and left the spool; it is shipped again, with the same id and content.
    const byId = new Map<string, CanonicalRecord>();
    for (const r of records) {
      const first = byId.get(r.id);
      if (first) expect([r.sensor, r.ts, r.temperature]).toEqual([first.sensor, first.ts, first.temperature]);
      else byId.set(r.id, r);
    }
    const ids = new Set(byId.keys());
    expect([...expected.keys()].filter((id) => !ids.has(id))).toEqual([]);
    expect(count(rejected, "too-large")).toBeGreaterThan(0);
  });
});
