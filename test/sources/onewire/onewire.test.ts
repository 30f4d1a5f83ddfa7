import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { onewireSourceSchema } from "../../../agent/sources/onewire/config.js";
import { createOnewireSource } from "../../../agent/sources/onewire/index.js";
import { parseW1Slave } from "../../../agent/sources/onewire/w1slave.js";
import { captureLog } from "../../helpers/capture-log.js";
import { RecordingIngest, recordingContext, waitFor } from "../../helpers/recording-ingest.js";

/** What the kernel's w1_therm driver writes, for a given CRC verdict and milli-degrees. */
function w1slave(mc: number, crc: "YES" | "NO" = "YES"): string {
  return `72 01 4b 46 7f ff 0e 10 57 : crc=57 ${crc}\n72 01 4b 46 7f ff 0e 10 57 t=${mc}\n`;
}

describe("onewire source on fixture folders", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "edgespool-w1-"));
    mkdirSync(join(dir, "w1_bus_master1"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function probe(name: string, text: string): void {
    mkdirSync(join(dir, name), { recursive: true });
    writeFileSync(join(dir, name, "w1_slave"), text);
  }

  function setup(extra: Record<string, unknown> = {}) {
    const ingest = new RecordingIngest();
    const cap = captureLog();
    const cfg = onewireSourceSchema.parse({
      type: "onewire",
      id: "w1",
      folder: dir,
      intervalMs: 20,
      ...extra,
    });
    return { ingest, cap, src: createOnewireSource(cfg, recordingContext(ingest, cap.log)) };
  }

  it("reads good probes and rejects bad CRC, 85 °C power-on and -127 °C with their reasons", async () => {
    probe("28-0316a2795cff", w1slave(23125));
    probe("28-000005e2fdc3", w1slave(-10500));
    probe("28-00000aaaaaaa", w1slave(21000, "NO"));
    probe("28-00000bbbbbbb", w1slave(85000));
    probe("28-00000ccccccc", w1slave(-127000));
    probe("28-00000ddddddd", "garbage\n");
    const { ingest, src } = setup({ names: { "28-0316a2795cff": "kitchen/t1" } });
    await src.start();
    await src.stop();
    expect(ingest.readings.map((r) => r.reading)).toEqual([
      { sensor: "28-000005e2fdc3", temperature: -10.5 },
      { sensor: "kitchen/t1", temperature: 23.125 },
    ]);
    expect(ingest.rejects.map((r) => r.reason).sort()).toEqual([
      "bad-format",
      "crc",
      "sensor-fault",
      "sensor-fault",
    ]);
    expect(ingest.rejects.find((r) => r.reason === "crc")?.detail).toContain("28-00000aaaaaaa");
  });

  it("polls every interval and logs bus changes once: missing folder, no probes, probes", async () => {
    rmSync(dir, { recursive: true, force: true });
    const { ingest, cap, src } = setup();
    await src.start();
    await waitFor(() => false, 100);
    mkdirSync(dir);
    await waitFor(() => false, 100);
    probe("28-0316a2795cff", w1slave(19000));
    expect(await waitFor(() => ingest.readings.length >= 3)).toBe(true);
    await src.stop();
    expect(cap.count(/1-Wire folder unreadable/)).toBe(1);
    expect(cap.count("no 1-Wire thermometers found; retrying")).toBe(1);
    expect(cap.count("1-Wire thermometers found")).toBe(1);
    expect(new Set(ingest.readings.map((r) => r.reading.temperature))).toEqual(new Set([19]));
  });

  it("never throws on arbitrary w1_slave text", () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        const r = parseW1Slave(text);
        if (r.ok) expect(Number.isFinite(r.celsius)).toBe(true);
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: -55_000, max: 125_000 }), (mc) => {
        const r = parseW1Slave(w1slave(mc));
        if (mc === 85_000) expect(r).toMatchObject({ ok: false, reason: "sensor-fault" });
        else expect(r).toEqual({ ok: true, celsius: mc / 1000 });
      }),
    );
  });
});
