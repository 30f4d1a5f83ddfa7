import { describe, expect, it } from "vitest";
import { hostSourceSchema } from "../../../agent/sources/host/config.js";
import { createHostSource } from "../../../agent/sources/host/index.js";
import { type HostTemperatures, systemTemperatures } from "../../../agent/sources/host/reader.js";
import { captureLog } from "../../helpers/capture-log.js";
import { RecordingIngest, recordingContext, waitFor } from "../../helpers/recording-ingest.js";

const NO_SENSORS = "this machine exposes no temperature sensors (VM or container?); polling on quietly";

function setup(extra: Record<string, unknown>, read?: () => Promise<HostTemperatures>) {
  const ingest = new RecordingIngest();
  const cap = captureLog();
  const cfg = hostSourceSchema.parse({ type: "host", id: "board", intervalMs: 20, ...extra });
  const src = createHostSource(cfg, recordingContext(ingest, cap.log), read ? { read } : {});
  return { ingest, cap, src };
}

describe("host source", () => {
  it("on this machine: reads whatever systeminformation finds, never a null, and says once when there is none", async () => {
    const real = await systemTemperatures();
    const { ingest, cap, src } = setup({ sensorPrefix: "vm" });
    await src.start();
    await waitFor(() => false, 300);
    await src.stop();
    for (const { reading } of ingest.readings) {
      expect(reading.sensor.startsWith("vm/")).toBe(true);
      expect(Number.isFinite(reading.temperature)).toBe(true);
    }
    const any = real.main !== null || real.chipset !== null || real.cores.some((c) => c !== null);
    if (any) expect(ingest.readings.length).toBeGreaterThan(0);
    else {
      console.info("host exposes no temperatures: checking the log-once path");
      expect(ingest.readings).toEqual([]);
      expect(cap.count(NO_SENSORS)).toBe(1);
    }
  });

  it("turns main, cores and chipset into readings and skips nulls", async () => {
    const { ingest, src } = setup({}, async () => ({ main: 51.5, cores: [50, null, 53], chipset: null }));
    await src.start();
    await src.stop();
    expect(ingest.readings.map((r) => r.reading)).toEqual([
      { sensor: "test-agent/cpu", temperature: 51.5 },
      { sensor: "test-agent/core0", temperature: 50 },
      { sensor: "test-agent/core2", temperature: 53 },
    ]);
  });

  it("logs once per change of availability, rejects implausible values, survives a failing reader", async () => {
    const script: (HostTemperatures | Error)[] = [
      { main: null, cores: [], chipset: null },
      { main: null, cores: [], chipset: null },
      new Error("sensors: command failed"),
      { main: 48, cores: [], chipset: 200 },
      { main: 49, cores: [], chipset: null },
      { main: Number.NaN, cores: [], chipset: null },
    ];
    let i = 0;
    const read = async () => {
      const next = script[Math.min(i++, script.length - 1)]!;
      if (next instanceof Error) throw next;
      return next;
    };
    const { ingest, cap, src } = setup({ include: ["main", "chipset"] }, read);
    await src.start();
    expect(await waitFor(() => i >= script.length + 2)).toBe(true);
    await src.stop();
    expect(ingest.readings.map((r) => r.reading.temperature)).toEqual([48, 49]);
    expect(ingest.rejectCount("out-of-range")).toBe(1);
    expect(cap.count(NO_SENSORS)).toBe(2);
    expect(cap.count("host temperatures available")).toBe(1);
    expect(cap.count("host temperature read failed")).toBe(1);
  });
});
