import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { validateConfig } from "../../agent/config/load.js";
import { AggregateTransform } from "../../agent/pipeline/transforms/aggregate.js";
import { encodeRecord, type OutRecord } from "../../agent/record/record.js";
import { type AgentHandle, startAgent } from "../../agent/runtime.js";
import { readNdjsonDir } from "../../agent/sinks/file/read.js";
import { freePort, tempDir } from "../helpers/agent-process.js";
import { captureLog } from "../helpers/capture-log.js";
import { agentConfig, brokerSource, fileSink } from "../helpers/reliability-agent.js";
import { describeDelivery, parseRecords, waitForDelivery } from "../helpers/reliability-check.js";
import { FleetLoad, sleep } from "../helpers/reliability-load.js";

/**
 * Clock steps (issue 6). A Raspberry Pi has no RTC: it boots with a stale time and NTP later
 * steps the wall clock, sometimes backwards (a bad fake-hwclock, a manual `date`). The clock is
 * injected; nothing may break: seq stays strictly increasing, retention drops nothing fresh,
 * and aggregate windows neither lose nor double records.
 */

const DAY = 86_400_000;

let agent: AgentHandle | undefined;
let load: FleetLoad | undefined;
afterEach(async () => {
  await load?.stop(0);
  await agent?.stop();
  agent = load = undefined;
});

describe("wall clock steps under a running agent (clock injected into startAgent)", () => {
  it("a step back by 10 days and forward again mid-stream: seq, retention and delivery hold", async () => {
    const dir = tempDir("edgespool-clock-");
    const port = await freePort();
    let offset = 0;
    const now = () => Date.now() + offset;
    const cfg = validateConfig(
      agentConfig(dir, {
        sources: [brokerSource(port)],
        sinks: [fileSink(dir)],
        spool: { maxAgeMs: "1h" },
      }),
    );
    const captured = captureLog("warn");
    agent = await startAgent(cfg, { log: captured.log, now, housekeepingMs: 100 });
    load = new FleetLoad({ port, rooms: 6, ratePerSec: 600, clients: 2 });
    load.start();
    await sleep(1000);
    offset = -10 * DAY;
    await sleep(1000);
    // Back to the right time, as when NTP finally syncs: a forward step of 10 days.
    offset = 0;
    await sleep(1000);
    await load.stop();

    const out = join(dir, "out");
    const d = await waitForDelivery(() => readNdjsonDir(out), load.acked, 15_000);
    const why = () =>
      `${describeDelivery(d, load!.acked.size)}; stats ${JSON.stringify(agent!.stats())}; log ${JSON.stringify(captured.lines.slice(-5))}`;
    expect(d.missing, why()).toEqual([]);
    expect(d.orderViolations).toEqual([]);
    expect(d.doubled).toEqual([]);
    const { records } = parseRecords(readNdjsonDir(out));
    const seqs = records.map((r) => r.seq);
    // One sink, no crash: the file holds every record once, in strictly increasing seq.
    expect(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!)).toBe(true);
    await sleep(300); // a few housekeeping rounds after the last step
    const st = agent.stats();
    expect(st.sinks[0]!.dropped).toEqual({});
    expect(st.lastSeq).toBe(seqs.at(-1));
  }, 60_000);
});

/** One reading every 10 s of device time; rx follows the Pi's (stepping) wall clock. */
function rec(seq: number, tsMs: number, rxMs: number): OutRecord {
  const body = encodeRecord({
    id: `r${seq}`,
    sensor: "kitchen/t1",
    ts: new Date(tsMs).toISOString(),
    temperature: 20 + (seq % 7) / 10,
    source: "m",
    agent: "pi",
    seq,
    rx: new Date(rxMs).toISOString(),
  });
  return { seq, id: `r${seq}`, sensor: "kitchen/t1", tsMs, rxMs, body };
}

/**
 * Feeds 60 readings (10 minutes of device time) through an aggregate of 1-minute windows, with
 * an idle flush after every reading as the shipper does between batches, and the wall clock
 * stepping by `stepMs` after reading 31. Returns the windows emitted.
 */
function runWindows(bootWallMs: number, stepMs: number) {
  const agg = new AggregateTransform("pi", { windowMs: 60_000, allowedLatenessMs: 0, stats: ["count"] });
  const D0 = Date.UTC(2026, 10, 22, 1, 0, 0);
  let wall = bootWallMs;
  const emitted: OutRecord[] = [];
  for (let i = 0; i < 60; i++) {
    emitted.push(...agg.process([rec(i + 1, D0 + i * 10_000, wall)], wall));
    wall += 5_000;
    // The step lands while the sink is idle, so the next flush sees it before any new reading.
    if (i === 30) wall += stepMs;
    emitted.push(...agg.flush(wall));
    wall += 5_000;
  }
  emitted.push(...agg.flush(wall + 10 * 60_000));
  const counts = emitted.map((r) => (JSON.parse(r.body) as { attrs: { count: number } }).attrs.count);
  return { agg, emitted, counts, ids: new Set(emitted.map((r) => r.id)) };
}

describe("aggregate windows under clock steps (clock injected into flush)", () => {
  it("a wall clock stepping back a day: every reading in exactly one window", () => {
    const D0 = Date.UTC(2026, 10, 22, 1, 0, 0);
    const { agg, emitted, counts, ids } = runWindows(D0 + 50, -DAY);
    expect(agg.lateTotal).toBe(0);
    expect(ids.size).toBe(emitted.length);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(60);
    expect(emitted).toHaveLength(10);
  });

  /*
   * Idle closing advances a silent sensor's event time by elapsed time between calls, each gap
   * capped at 10 s, so a forward step while idle closes windows at most 10 s early.
   */
  it("a stale boot clock (fake-hwclock, 6 h behind), then the NTP step forward while idle", () => {
    const D0 = Date.UTC(2026, 10, 22, 1, 0, 0);
    const { agg, emitted, counts, ids } = runWindows(D0 - 6 * 3_600_000, 6 * 3_600_000);
    expect(agg.lateTotal, "readings dropped as late after the step").toBe(0);
    expect(ids.size).toBe(emitted.length);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(60);
    expect(
      counts.every((c) => c === 6),
      `window counts ${counts.join(",")}`,
    ).toBe(true);
  });

  /*
   * Readings far ahead of the agent's clock are kept when other clocks back them up (see the
   * transforms README), so devices on the right time are not dropped before the Pi's NTP sync.
   */
  it("an RTC-less boot in 1970 with devices on the right time, then the NTP step forward", () => {
    const D0 = Date.UTC(2026, 10, 22, 1, 0, 0);
    const boot = DAY; // 1970-01-02: the Pi's idea of "now" until NTP answers
    const { agg, counts } = runWindows(boot, D0 + 310_000 - (boot + 310_000));
    expect(agg.lateTotal, "readings dropped as late after the step").toBe(0);
    expect(
      counts.reduce((a, b) => a + b, 0),
      `window counts ${counts.join(",")}`,
    ).toBe(60);
  });
});
