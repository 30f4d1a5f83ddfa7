import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { validateConfig } from "../../agent/config/load.js";
import { createIngest } from "../../agent/pipeline/ingest.js";
import { Shipper } from "../../agent/pipeline/shipper.js";
import type { OutRecord } from "../../agent/record/record.js";
import type { Sink, WriteResult } from "../../agent/sinks/sink.js";
import { SinkError } from "../../agent/sinks/sink.js";
import { createStdoutSink } from "../../agent/sinks/stdout/index.js";
import type { SpoolApi } from "../../agent/spool/types.js";
import { Telemetry } from "../../agent/telemetry/telemetry.js";
import { tempDir } from "../helpers/agent-process.js";
import { waitFor } from "../helpers/basics.js";
import { openTestSpool, startTestShipper } from "../helpers/spool-ingest.js";

/** The real stdout sink writing into a stream we read, behind a wrapper that injects faults. */
function faultySink(
  id: string,
  fault: (batch: readonly OutRecord[], call: number) => WriteResult | Error | undefined,
) {
  const out = new PassThrough();
  const lines: string[] = [];
  let buf = "";
  out.on("data", (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split("\n");
    buf = parts.pop()!;
    lines.push(...parts);
  });
  const telemetry = new Telemetry();
  const real = createStdoutSink(
    { id } as never,
    { agentId: "t", dataDir: "/tmp", log: telemetry.log, telemetry },
    out,
  );
  let calls = 0;
  const sink: Sink = {
    id,
    type: "faulty",
    start: () => real.start(),
    close: () => real.close(),
    async write(batch, signal) {
      const f = fault(batch, calls++);
      if (f instanceof Error) throw f;
      const keep = new Set([...(f?.retry ?? []), ...(f?.rejected ?? []).map((r) => r.index)]);
      await real.write(
        batch.filter((_, i) => !keep.has(i)),
        signal,
      );
      return f ?? {};
    },
  };
  return { sink, lines, calls: () => calls };
}

function sinkCfg(extra: Record<string, unknown> = {}) {
  const cfg = validateConfig(
    { sinks: [{ type: "stdout", id: "s", maxBufferAgeMs: 0, retry: { initialMs: 1, maxMs: 5 }, ...extra }] },
    "t",
    {},
  );
  return cfg.sinks[0]!;
}

const open: { spool: SpoolApi; shipper?: Shipper }[] = [];
afterEach(async () => {
  for (const o of open.splice(0)) {
    await o.shipper?.stop(1000);
    o.spool.close();
  }
});

async function setup(sink: Sink, extra: Record<string, unknown> = {}, dir = tempDir(), idlePollMs = 20) {
  const telemetry = new Telemetry();
  const { spool } = openTestSpool({ dir, telemetry });
  const shipper = startTestShipper(spool, sink, sinkCfg(extra), telemetry, { idlePollMs });
  open.push({ spool, shipper });
  const ingest = createIngest(spool, telemetry, { agentId: "t", maxCommitRecords: 1000 });
  const put = async (n: number, from = 0) => {
    const readings = Array.from({ length: n }, (_, i) => ({
      sensor: `s${(from + i) % 3}`,
      temperature: 20,
      deviceSeq: from + i,
    }));
    // No notify(): the spool's own commit notification is what wakes the shipper, as in the agent.
    await ingest.submit("src", readings);
  };
  return { spool, shipper, put, telemetry, dir };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  if (!(await waitFor(cond, ms, 10))) throw new Error("timed out");
}

describe("shipping loop", () => {
  it("ships everything in seq order and acks the cursor only after the sink accepted", async () => {
    const f = faultySink("s", () => undefined);
    const { spool, put } = await setup(f.sink, { maxBatchRecords: 7 });
    await put(50);
    await until(() => f.lines.length === 50);
    const seqs = f.lines.map((l) => (JSON.parse(l) as { seq: number }).seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    await until(() => spool.stats().sinks[0]!.depth === 0);
    expect(spool.stats().sinks[0]!.shipped).toBe(50);
    expect(f.calls()).toBeGreaterThanOrEqual(8);
  });

  it("resends a failed batch with the same ids, and retries only the records the sink asks for", async () => {
    const f = faultySink("s", (batch, call) => {
      if (call === 0) return new SinkError("down", "ECONNREFUSED", true);
      if (call === 1 && batch.length > 2) return { retry: [0, 2] };
      return undefined;
    });
    const { spool, put } = await setup(f.sink, { maxBatchRecords: 10 });
    await put(10);
    await until(() => spool.stats().sinks[0]!.depth === 0);
    const ids = f.lines.map((l) => (JSON.parse(l) as { id: string }).id);
    expect(new Set(ids).size).toBe(10);
    expect(ids).toHaveLength(10);
  });

  it("moves refused records and non-retryable failures to dead letters, counted", async () => {
    const f = faultySink("s", (_b, call) => {
      if (call === 0) return { rejected: [{ index: 1, reason: "too large" }] };
      if (call === 1) return new SinkError("bad request", "HTTP_400", false);
      return undefined;
    });
    const { spool, put } = await setup(f.sink, { maxBatchRecords: 5 });
    await put(5);
    await until(() => spool.stats().sinks[0]!.depth === 0);
    await put(5, 100);
    await until(() => spool.stats().sinks[0]!.depth === 0);
    const st = spool.stats().sinks[0]!;
    expect(st.deadLetters).toBe(6);
    expect(st.shipped).toBe(4);
    expect(f.lines).toHaveLength(4);
  });

  it("gives up after retry.maxAttempts into dead letters instead of retrying forever", async () => {
    const f = faultySink("s", () => new SinkError("throttled", "Throttled", true));
    const { spool, put } = await setup(f.sink, {
      maxBatchRecords: 5,
      retry: { initialMs: 1, maxMs: 2, maxAttempts: 3 },
    });
    await put(3);
    await until(() => spool.stats().sinks[0]!.deadLetters === 3);
    expect(f.calls()).toBe(3);
  });

  it("waits up to maxBufferAgeMs to fill a batch", async () => {
    const f = faultySink("s", () => undefined);
    const { put } = await setup(f.sink, { maxBatchRecords: 100, maxBufferAgeMs: 300 });
    await put(3);
    await new Promise((r) => setTimeout(r, 100));
    await put(3, 10);
    await until(() => f.lines.length === 6);
    expect(f.calls()).toBe(1);
  });

  it("collects one-reading commits into a batch and ships it once they fill it", async () => {
    const f = faultySink("s", () => undefined);
    // An hour of buffer age: only a full batch can get records shipped.
    const { put, spool } = await setup(f.sink, { maxBatchRecords: 10, maxBufferAgeMs: 3_600_000 });
    // One commit per reading, as when a sender waits for each acknowledgement.
    for (let i = 0; i < 9; i++) await put(1, i);
    expect(f.calls()).toBe(0);
    await put(1, 9);
    await until(() => f.lines.length === 10);
    await until(() => spool.stats().sinks[0]!.depth === 0);
    expect(f.calls()).toBe(1);
  });

  it("sleeps without polling when idle and is woken by the commit that gives it work", async () => {
    const f = faultySink("s", () => undefined);
    // An hour between idle polls: only the notification can get the records shipped.
    const { put, spool } = await setup(
      f.sink,
      { maxBatchRecords: 100, maxBufferAgeMs: 50 },
      tempDir(),
      3_600_000,
    );
    await new Promise((r) => setTimeout(r, 50));
    await put(2);
    await until(() => f.lines.length === 2);
    // Appended straight into the spool, with no notify() from anyone: the commit itself wakes it.
    const rx = new Date().toISOString();
    const direct = ["d1", "d2", "d3"].map((id) => ({
      id,
      sensor: "s",
      ts: rx,
      rx,
      temperature: 20,
      source: "t",
      agent: "t",
    }));
    spool.append(direct);
    await until(() => f.lines.length === 5);
    await until(() => spool.stats().sinks[0]!.depth === 0);
    expect(f.calls()).toBe(2);
  });

  it("keeps the cursor behind open aggregate windows, so a restart recomputes them with the same ids", async () => {
    const dir = tempDir();
    const f1 = faultySink("s", () => undefined);
    const first = await setup(f1.sink, { transforms: [{ type: "aggregate", windowMs: "1h" }] }, dir);
    await first.put(9);
    await new Promise((r) => setTimeout(r, 200));
    expect(f1.lines).toHaveLength(0);
    expect(first.spool.cursor("s")).toBe(0);
    const o = open.pop()!;
    await o.shipper?.stop(1000);
    o.spool.close();
    const f2 = faultySink("s", () => undefined);
    const second = await setup(f2.sink, { transforms: [{ type: "aggregate", windowMs: "1h" }] }, dir);
    expect(second.spool.stats().sinks[0]!.depth).toBe(9);
  });
});

describe("shipping loop with chained transforms", () => {
  it("passes idle-closed aggregates through the transforms after the aggregate", async () => {
    const f = faultySink("s", () => undefined);
    const { put } = await setup(f.sink, {
      transforms: [
        { type: "aggregate", windowMs: 50 },
        { type: "filter", expression: 'sensor == "s1"' },
      ],
    });
    await put(9);
    await until(() => f.lines.length > 0, 5000);
    await new Promise((r) => setTimeout(r, 300));
    const sensors = new Set(f.lines.map((l) => (JSON.parse(l) as { sensor: string }).sensor));
    expect([...sensors]).toEqual(["s1"]);
  });
});
