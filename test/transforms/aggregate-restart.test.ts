import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { validateConfig } from "../../agent/config/load.js";
import { createIngest } from "../../agent/pipeline/ingest.js";
import { Shipper } from "../../agent/pipeline/shipper.js";
import { aggregateId } from "../../agent/record/ids.js";
import type { Reading } from "../../agent/record/record.js";
import type { FileSinkConfig } from "../../agent/sinks/file/config.js";
import { createFileSink } from "../../agent/sinks/file/index.js";
import { readNdjsonDir } from "../../agent/sinks/file/read.js";
import type { SpoolApi } from "../../agent/spool/types.js";
import { Telemetry } from "../../agent/telemetry/telemetry.js";
import { tempDir } from "../helpers/agent-process.js";
import { waitFor } from "../helpers/basics.js";
import { openTestSpool, startTestShipper } from "../helpers/spool-ingest.js";

/**
 * The aggregate transform in the real pipeline: SQLite spool → shipping loop → aggregate → file
 * sink, restarted several times mid-stream with its in-memory windows lost. Every window must
 * reach the files with the same id and the same body each time it is shipped, counting every
 * reading of its window exactly once.
 */

const W = 60_000;
const T0 = Date.UTC(2025, 0, 1, 0, 0, 0);
const SENSORS = ["hall/t1", "kitchen/t1", "lab/t9"];

function readings(n: number): Reading[] {
  // Event time advances 7 s per reading, each sensor a little out of order (within the lateness).
  return Array.from({ length: n }, (_, i) => ({
    sensor: SENSORS[i % SENSORS.length]!,
    temperature: 18 + ((i * 37) % 90) / 10,
    deviceTs: T0 + i * 7000 - (i % 4) * 3000,
    deviceSeq: i,
  }));
}

const running: { spool: SpoolApi; shipper: Shipper }[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) {
    await r.shipper.stop(1000);
    r.spool.close();
  }
});

function start(dir: string, out: string) {
  const telemetry = new Telemetry();
  const spool = openTestSpool({ dir, maxAgeMs: 1e12, telemetry }).spool;
  // The loop reads from its position after it shipped and settled everything before it, so an
  // empty read from the newest seq means it has caught up (windows still open are in memory).
  let caughtUpFrom = -1;
  const watched = new Proxy(spool, {
    get(target, key) {
      if (key === "read")
        return (afterSeq: number, limit: number, maxBytes?: number) => {
          const page = target.read(afterSeq, limit, maxBytes);
          if (page.length === 0) caughtUpFrom = Math.max(caughtUpFrom, afterSeq);
          return page;
        };
      const v: unknown = Reflect.get(target, key, target);
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const cfg = validateConfig(
    {
      agentId: "pi",
      sinks: [
        {
          type: "file",
          id: "agg",
          dir: out,
          maxBatchRecords: 11,
          maxBufferAgeMs: 0,
          transforms: [{ type: "aggregate", windowMs: W, allowedLatenessMs: 10_000 }],
        },
      ],
    },
    "t",
    {},
  ).sinks[0]! as FileSinkConfig;
  const sink = createFileSink(cfg, { agentId: "pi", dataDir: dir, log: telemetry.log, telemetry });
  const shipper = startTestShipper(watched, sink, cfg, telemetry, { agentId: "pi" });
  const ingest = createIngest(spool, telemetry, { agentId: "pi", maxCommitRecords: 1000 });
  const entry = { spool, shipper };
  running.push(entry);
  return {
    spool,
    /** Waits until the loop has read, shipped and settled everything stored so far. */
    async caughtUp(): Promise<void> {
      const last = spool.stats().lastSeq;
      expect(await waitFor(() => caughtUpFrom >= last, 30_000), `loop caught up to seq ${last}`).toBe(true);
    },
    async put(rs: Reading[]) {
      for (let i = 0; i < rs.length; i += 5) await ingest.submit("src", rs.slice(i, i + 5));
    },
    /** Like kill -9 for the pipeline: the loop stops, open windows vanish, nothing is flushed. */
    async crash() {
      running.splice(running.indexOf(entry), 1);
      await shipper.stop(0);
      spool.close();
    },
  };
}

describe("aggregate through the shipping loop across restarts", () => {
  it("ships every window with one body per id, counting each reading once", async () => {
    const dir = tempDir();
    const out = join(dir, "out");
    const all = readings(240);
    const chunks = [all.slice(0, 55), all.slice(55, 130), all.slice(130, 200), all.slice(200)];
    for (const chunk of chunks) {
      const p = start(dir, out);
      await p.put(chunk);
      // Crash with the chunk's windows closed as far as its readings close them, the rest open.
      await p.caughtUp();
      await p.crash();
    }
    // Readings far ahead close every window still open.
    const last = start(dir, out);
    const stored = last.spool.stats().lastSeq;
    await last.put(
      SENSORS.map((sensor, i) => ({
        sensor,
        temperature: 20,
        deviceTs: T0 + 10 * 86_400_000,
        deviceSeq: 1e6 + i,
      })),
    );
    await last.caughtUp();
    // Only the far-ahead readings' own windows are open: everything before them is out and settled.
    expect(last.spool.cursor("agg")).toBe(stored);

    const lines = readNdjsonDir(out).map((l) => JSON.parse(l) as { id: string; attrs: { count: number } });
    const bodies = new Map<string, Set<string>>();
    for (const l of lines) bodies.set(l.id, (bodies.get(l.id) ?? new Set()).add(JSON.stringify(l)));
    for (const [id, set] of bodies) expect(set.size, `bodies of ${id}`).toBe(1);

    const expected = new Map<string, number>();
    for (const r of all) {
      const id = aggregateId("pi", r.sensor, Math.floor(r.deviceTs! / W) * W, W);
      expected.set(id, (expected.get(id) ?? 0) + 1);
    }
    const got = new Map(lines.map((l) => [l.id, l.attrs.count]));
    for (const [id, count] of expected) expect(got.get(id), id).toBe(count);
    expect(last.spool.stats().sinks[0]!.dropped.aggregate ?? 0).toBe(0);
  });
});
