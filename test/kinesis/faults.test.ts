import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { consumeStream } from "../../agent/consume/consumer.js";
import { createKinesisSink } from "../../agent/sinks/kinesis/index.js";
import { silentLogger } from "../../agent/telemetry/logger.js";
import { Telemetry } from "../../agent/telemetry/telemetry.js";
import type { OutRecord } from "../../agent/record/record.js";
import { type FaultProxy, startFaultProxy } from "./fault-proxy.js";
import {
  clientWithStream,
  consumedRows,
  CREDS,
  deaggregate,
  type Kinesalite,
  makeRecords,
  orderViolations,
  ship,
  sinkConfig,
  sinkContext,
  startKinesalite,
  tempDir,
} from "./helpers.js";

let k: Kinesalite;
let proxy: FaultProxy;
let dir: string;
beforeEach(async () => {
  k = await startKinesalite();
  proxy = await startFaultProxy(k.endpoint, { entryFailure: 0.15, serverError: 0.1, cutAfterAccept: 0.1 }, 7);
  dir = tempDir();
});
afterEach(async () => {
  await proxy?.close();
  await k?.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Every user record in every PutRecords attempt, failed and retried ones included, decoded from
 * the wire (aggregates unpacked by aws-kinesis-agg): each carries the id its record had in the
 * spool, so a resend is the same record again, not a new one.
 */
function expectSameIdsOnResend(p: FaultProxy, sent: readonly OutRecord[]): void {
  const idOf = new Map(sent.map((r) => [r.seq, r.id]));
  const times = new Map<number, number>();
  for (const entries of p.attempts)
    for (const e of entries)
      for (const u of deaggregate(Buffer.from(e.Data, "base64"), e.PartitionKey)) {
        const r = JSON.parse(u.data) as { seq: number; id: string };
        expect(r.id, `seq ${r.seq} on the wire`).toBe(idOf.get(r.seq));
        times.set(r.seq, (times.get(r.seq) ?? 0) + 1);
      }
  expect(times.size).toBe(sent.length);
  expect([...times.values()].filter((n) => n > 1).length, "no record was resent").toBeGreaterThan(0);
}

describe("kinesis sink under injected faults", () => {
  it.each([
    { aggregation: true, shards: 2 },
    { aggregation: false, shards: 3 },
  ])(
    "throttling, 5xx and cut connections (aggregation=$aggregation): consume stores every id exactly once",
    async ({ aggregation, shards }) => {
      const stream = `faults-${aggregation}`;
      const c = await clientWithStream(k.endpoint, stream, shards);
      const ctx = sinkContext();
      const telemetry = new Telemetry(silentLogger());
      // Several aggregates per shard per batch, so a cut mid-write leaves part of the batch accepted.
      const cfg = sinkConfig(stream, proxy.endpoint, { aggregation, maxAggregateBytes: "8KiB" });
      const sink = createKinesisSink(cfg, { ...ctx, telemetry });
      await sink.start();
      const all = [];
      for (let b = 0; b < 8; b++) {
        const batch = makeRecords(aggregation ? 300 : 120, 13, 1 + b * 1000);
        all.push(...batch);
        const out = await ship(sink, batch, telemetry);
        expect(out.deadLetters).toEqual([]);
      }
      await sink.close();
      expectSameIdsOnResend(proxy, all);

      expect(proxy.counts.failedEntries).toBeGreaterThan(0);
      expect(proxy.counts.serverErrors).toBeGreaterThan(0);
      expect(proxy.counts.cuts).toBeGreaterThan(0);
      expect(sink.stats().throttled).toBeGreaterThan(0);
      const throttleMetric = await telemetry.sinkErrors.get();
      expect(
        throttleMetric.values.some((v) => v.labels.code === "ProvisionedThroughputExceededException"),
      ).toBe(true);

      const db = join(dir, "consumer.db");
      const stats = await consumeStream({ stream, endpoint: k.endpoint, region: "us-east-1", ...CREDS, db });
      const rows = consumedRows(db);
      expect(rows.length).toBe(all.length);
      expect(new Set(rows.map((r) => r.id))).toEqual(new Set(all.map((r) => r.id)));
      // The cut connections resent records kinesalite had already stored: the consumer saw them twice.
      expect(stats.duplicates).toBeGreaterThan(0);
      expect(stats.stored).toBe(all.length);
      // Aggregated: one aggregate per shard in flight, so a failure never lets later readings overtake.
      if (aggregation) expect(orderViolations(rows)).toEqual([]);
      c.destroy();
    },
  );

  it("a whole batch failing with nothing accepted is a retryable SinkError", async () => {
    const stream = "all-fail";
    const c = await clientWithStream(k.endpoint, stream, 1);
    proxy.faults.serverError = 1;
    const sink = createKinesisSink(sinkConfig(stream, proxy.endpoint), sinkContext());
    await sink.start();
    await expect(sink.write(makeRecords(10), new AbortController().signal)).rejects.toMatchObject({
      name: "SinkError",
      retryable: true,
    });
    await sink.close();
    c.destroy();
  });

  it("entries failing every attempt come back as retry, with the rest of their shard", async () => {
    const stream = "stubborn";
    const c = await clientWithStream(k.endpoint, stream, 1);
    proxy.faults.entryFailure = 1;
    proxy.faults.serverError = 0;
    proxy.faults.cutAfterAccept = 0;
    const sink = createKinesisSink(sinkConfig(stream, proxy.endpoint, { entryAttempts: 2 }), sinkContext());
    await sink.start();
    const batch = makeRecords(20, 3);
    const res = await sink.write(batch, new AbortController().signal);
    expect(res.retry).toEqual(batch.map((_, i) => i));
    expect(sink.stats().entriesFailed).toBe(2);
    await sink.close();
    c.destroy();
  });
});
