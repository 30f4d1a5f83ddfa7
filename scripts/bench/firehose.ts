import { firehoseSinkSchema } from "../../agent/sinks/firehose/config.js";
import { createFirehoseSink } from "../../agent/sinks/firehose/index.js";
import { silentLogger } from "../../agent/telemetry/logger.js";
import { Telemetry } from "../../agent/telemetry/telemetry.js";
import { startFirehoseEndpoint } from "../../test/sinks/firehose-endpoint.js";
import type { Bench, BenchRow } from "./types.js";
import { readings } from "./consume.js";

/**
 * The Firehose sink packed (NDJSON, up to 1,000 KiB a record) against one reading per record,
 * through the same in-process PutRecordBatch endpoint the tests use, shipping the same readings
 * in the shipping loop's default batches (5,000): calls, records and billed 5 KiB units per
 * 1,000 readings, and readings per second.
 */
export const run: Bench = async ({ quick }) => {
  const N = quick ? 20_000 : 100_000;
  const all = readings(N);
  const rows: BenchRow[] = [];
  const results: Record<string, { calls: number; units: number; rate: number; records: number }> = {};
  for (const packing of [false, true]) {
    const ep = await startFirehoseEndpoint();
    const log = silentLogger();
    const sink = createFirehoseSink(
      firehoseSinkSchema.parse({
        type: "firehose",
        id: "fh",
        deliveryStream: "bench",
        endpoint: ep.endpoint,
        region: "us-east-1",
        accessKeyId: "bench",
        secretAccessKey: "bench-secret",
        packing,
      }),
      { agentId: "bench", dataDir: "/nonexistent", log, telemetry: new Telemetry(log) },
    );
    const t = performance.now();
    for (let i = 0; i < N; i += 5000) {
      const res = await sink.write(all.slice(i, i + 5000), new AbortController().signal);
      if (res.retry?.length || res.rejected?.length) throw new Error("firehose bench: records not accepted");
    }
    const ms = performance.now() - t;
    const s = sink.stats();
    results[packing ? "packed" : "single"] = {
      calls: s.calls,
      units: s.billedUnits,
      rate: (N * 1000) / ms,
      records: s.recordsSent,
    };
    await sink.close();
    await ep.close();
  }
  const p = results.packed!;
  const u = results.single!;
  const per1k = (x: number) => (x * 1000) / N;
  const bytes = all.reduce((n, r) => n + Buffer.byteLength(r.body) + 1, 0) / N;
  rows.push(
    {
      name: "firehose packed: billed 5 KiB units per 1,000 readings",
      value: per1k(p.units),
      unit: "units",
      baselineName: "one reading per record",
      baseline: per1k(u.units),
      ratio: p.units / u.units,
      note: `${N} readings of ${bytes.toFixed(0)} B; ${p.records} vs ${u.records} records`,
    },
    {
      name: "firehose packed: PutRecordBatch calls per 1,000 readings",
      value: per1k(p.calls),
      unit: "calls",
      baselineName: "one reading per record",
      baseline: per1k(u.calls),
      ratio: p.calls / u.calls,
    },
    {
      name: "firehose packed: readings/s through the sink",
      value: p.rate,
      unit: "readings/s",
      baselineName: "one reading per record",
      baseline: u.rate,
      ratio: p.rate / u.rate,
      note: "in-process PutRecordBatch endpoint on 127.0.0.1",
    },
  );
  return rows;
};
