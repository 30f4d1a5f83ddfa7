import { createKinesisClient, listAllShards } from "../../agent/sinks/kinesis/client.js";
import { kinesisSinkSchema } from "../../agent/sinks/kinesis/config.js";
import { endToEnd, loopLatency, spawnKinesalite } from "./kinesis-latency.js";
import { CREDS, newStream, rawRate, records, shipRate, startKinesalite } from "./kinesis-setup.js";
import type { Bench, BenchRow } from "./types.js";

/**
 * Kinesis shipping against an in-process kinesalite: user records/s with KPL aggregation vs one
 * Kinesis record per reading (same sink, same data), vs raw PutRecords of the same readings with
 * no agent (kinesalite's own rate), the same two with the per-shard limits AWS enforces, and
 * publish → PutRecords-ack latency through the whole agent (`edgespool run`, a child process) at
 * 1,000 readings/s, which should stay within the sink's maxBufferAgeMs + 200 ms.
 */

export const run: Bench = async ({ quick }) => {
  const k = await startKinesalite();
  const c = createKinesisClient({ endpoint: k.endpoint, region: "us-east-1", ...CREDS });
  const rows: BenchRow[] = [];
  try {
    const n = quick ? 10_000 : 100_000;
    const data = records(n);
    for (const s of ["agg", "single", "raw", "agg-limited", "single-limited", "loop"])
      await newStream(c, s, 1);
    await listAllShards(c, "agg");
    const unlimited = { shardLimits: { enabled: false } };
    const agg = await shipRate(k.endpoint, "agg", data, unlimited);
    const single = await shipRate(k.endpoint, "single", data, { ...unlimited, aggregation: false });
    const raw = await rawRate(c, "raw", data);
    rows.push(
      {
        name: "kinesis: aggregated shipping (user records/s)",
        value: agg,
        unit: "records/s",
        baselineName: "same sink, aggregation=false",
        baseline: single,
        ratio: agg / single,
        target: ">= 5",
        note: "1 shard, no shard limits (kinesalite has none)",
      },
      {
        name: "kinesis: aggregated shipping vs raw PutRecords",
        value: agg,
        unit: "records/s",
        baselineName: "raw PutRecords x500, no agent",
        baseline: raw,
        ratio: agg / raw,
        target: "report",
      },
      {
        name: "kinesis: single-record shipping vs raw PutRecords",
        value: single,
        unit: "records/s",
        baselineName: "raw PutRecords x500, no agent",
        baseline: raw,
        ratio: single / raw,
        target: "report",
      },
    );
    // AWS's per-shard limits scaled to 1/10 (100 records/s, 100 KiB/s): the one-second burst a
    // budget starts with is spent in the warm-up, so a quick run shows the steady ratio.
    // ~190-byte readings: aggregated ~540/s (bytes-bound), single records 100/s (count-bound).
    const secs = quick ? 3 : 10;
    const scaled = { shardLimits: { recordsPerSecond: 100, bytesPerSecond: "100KiB" } };
    const aggLim = await shipRate(k.endpoint, "agg-limited", data.slice(0, 600 + secs * 540), scaled, 600);
    const singleLim = await shipRate(
      k.endpoint,
      "single-limited",
      data.slice(0, 100 + secs * 100),
      { ...scaled, aggregation: false },
      100,
    );
    rows.push({
      name: "kinesis: within shard limits (1/10 of AWS's), aggregated",
      value: aggLim,
      unit: "records/s",
      baselineName: "aggregation=false (record-count bound)",
      baseline: singleLim,
      ratio: aggLim / singleLim,
      target: ">= 5",
      note: "x10 for AWS's 1,000 records/s and 1 MiB/s per shard",
    });
    // The kinesis sink's default maxBufferAgeMs: no reading should wait longer than that for its
    // batch, plus the PutRecords round trip.
    const bound = kinesisSinkSchema.parse({ type: "kinesis", id: "k", stream: "s" }).maxBufferAgeMs + 200;
    const l = await loopLatency(k.endpoint, quick ? 4 : 20, 1000);
    rows.push({
      name: "kinesis: spool append -> PutRecords ack p99, shipping loop alone",
      value: l.p99,
      unit: "ms",
      target: `<= ${bound}`,
      note: `p50 ${Math.round(l.p50)} ms; Shipper + sink in-process, 1000/s, default batching, ${l.n} readings`,
    });
    const remote = await spawnKinesalite();
    const lat = await endToEnd(remote.endpoint, quick ? 7 : 30, 1000).finally(remote.stop);
    rows.push(
      {
        name: "kinesis: publish -> PutRecords ack p50",
        value: lat.p50,
        unit: "ms",
        target: "report",
        note: `1000 readings/s, default batching, ${lat.n} readings`,
      },
      {
        name: "kinesis: publish -> PutRecords ack p99",
        value: lat.p99,
        unit: "ms",
        target: `<= ${bound} (maxBufferAgeMs + 200)`,
        note: "whole agent (edgespool run), QoS1 MQTT in",
      },
      {
        name: "kinesis: publish -> PUBACK (spool commit) p99, same run",
        value: lat.pubackP99,
        unit: "ms",
        target: "report",
        note: "the ingest side's share of the end-to-end latency",
      },
    );
  } finally {
    c.destroy();
    await k.close();
  }
  return rows;
};
