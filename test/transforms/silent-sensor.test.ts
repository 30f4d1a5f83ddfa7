import { rmSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { validateConfig } from "../../agent/config/load.js";
import { Shipper } from "../../agent/pipeline/shipper.js";
import { createTransforms } from "../../agent/pipeline/transforms/index.js";
import type { NewRecord } from "../../agent/record/record.js";
import type { Sink } from "../../agent/sinks/sink.js";
import type { SpoolApi } from "../../agent/spool/types.js";
import { Telemetry } from "../../agent/telemetry/telemetry.js";
import { tempDir } from "../helpers/agent-process.js";
import { GatedSink } from "../helpers/gated-sink.js";
import { openTestSpool } from "../helpers/spool-ingest.js";

/**
 * A sensor that goes silent must not hold the sink's cursor while others keep the shipper busy
 * (issue: at ~2,000 readings/s the cursor stood still until the shipper found nothing to read).
 * A real spool holds one reading of `quiet` and then a long stream of `busy` readings, 1 ms apart
 * by receive time, so the shipper never finds the spool empty until the very end; the sink
 * records the durable cursor at each write. With windows of 1 s, `quiet`'s window is due once
 * the stream has moved 1 s past it, and the cursor must move on well before the end.
 */

const T0 = Date.UTC(2026, 10, 22, 8, 0, 0);
const BUSY = 12_000;

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

function reading(i: number, sensor: string, rxMs: number): NewRecord {
  const rx = new Date(rxMs).toISOString();
  return { id: `r${i}`, sensor, ts: rx, rx, temperature: 20 + (i % 5), source: "t", agent: "t" };
}

describe("aggregate windows under sustained load", () => {
  it("a silent sensor's window closes on stream time, and the cursor keeps moving", async () => {
    const dir = tempDir("edgespool-silent-");
    const telemetry = new Telemetry();
    const spool: SpoolApi = openTestSpool({ dir, maxAgeMs: 1e12, telemetry }).spool;
    spool.setSinks(["agg"]);
    const records = [reading(0, "quiet", T0)];
    for (let i = 1; i <= BUSY; i++) records.push(reading(i, "busy", T0 + i));
    spool.append(records);

    const gated = new GatedSink("agg");
    gated.open();
    const cursors: number[] = [];
    const sink: Sink = {
      ...gated.sink,
      write: (batch, signal) => {
        cursors.push(spool.cursor("agg"));
        return gated.sink.write(batch, signal);
      },
    };
    const cfg = validateConfig(
      {
        sinks: [
          {
            type: "stdout",
            id: "agg",
            maxBufferAgeMs: 0,
            maxBatchRecords: 200,
            transforms: [{ type: "aggregate", windowMs: 1000, allowedLatenessMs: 0, stats: ["count"] }],
          },
        ],
      },
      "t",
      {},
    ).sinks[0]!;
    // A long idle poll: the wall-clock idle flush cannot be what closes the window here.
    const shipper = new Shipper(
      spool,
      sink,
      cfg,
      () => createTransforms(cfg.transforms, { agentId: "t" }),
      telemetry,
      {
        idlePollMs: 60_000,
      },
    );
    shipper.start();
    cleanup = async () => {
      await shipper.stop(1000);
      spool.close();
      rmSync(dir, { recursive: true, force: true });
    };

    // Every busy window but the last one closes while the stream goes by.
    const end = Date.now() + 60_000;
    while (gated.lines.length < BUSY / 1000 - 1 && Date.now() < end)
      await new Promise((r) => setTimeout(r, 20));
    const quiet = gated.lines
      .map((l) => JSON.parse(l) as { sensor: string })
      .filter((a) => a.sensor === "quiet");
    expect(quiet, "quiet's window shipped while busy readings were still being read").toHaveLength(1);
    // Cursors seen by the sink's writes: on the old code all 0 (held behind quiet's reading, seq 1).
    expect(Math.max(...cursors), `cursors at each write: ${cursors.join(",")}`).toBeGreaterThan(BUSY / 2);
  }, 90_000);
});
