import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeRecord } from "../../agent/record/record.js";
import { createKinesisSink } from "../../agent/sinks/kinesis/index.js";
import { hashKeyOf } from "../../agent/sinks/kinesis/keys.js";
import {
  clientWithStream,
  type Kinesalite,
  makeRecords,
  readBack,
  sinkConfig,
  sinkContext,
  startKinesalite,
} from "./helpers.js";

let k: Kinesalite;
beforeAll(async () => {
  k = await startKinesalite();
});
afterAll(async () => {
  await k?.close();
});

const signal = new AbortController().signal;

describe("kinesis sink against kinesalite", () => {
  it.each([1, 2, 4])(
    "aggregates per shard on a %i-shard stream: every id arrives, every hash key in its shard",
    async (shards) => {
      const stream = `agg-${shards}`;
      const c = await clientWithStream(k.endpoint, stream, shards);
      const sink = createKinesisSink(sinkConfig(stream, k.endpoint), sinkContext());
      await sink.start();
      const batch = makeRecords(3000, 37);
      expect(await sink.write(batch, signal)).toEqual({});
      await sink.close();

      const back = await readBack(c, stream);
      const ids: string[] = [];
      let kinesisRecords = 0;
      for (const shard of back) {
        kinesisRecords += shard.kinesisRecords;
        for (const u of shard.users) {
          const hash = u.explicitHashKey ? BigInt(u.explicitHashKey) : hashKeyOf(u.partitionKey);
          expect(hash >= shard.start && hash <= shard.end).toBe(true);
          const rec = decodeRecord(u.data);
          expect(u.partitionKey).toBe(rec.sensor);
          ids.push(rec.id);
        }
      }
      expect(ids.sort()).toEqual(batch.map((r) => r.id).sort());
      // Aggregated: a handful of Kinesis records, not one per reading.
      expect(kinesisRecords).toBeLessThanOrEqual(shards * 2);
      expect(sink.stats().calls).toBeGreaterThan(0);
      c.destroy();
    },
  );

  it("keeps per-sensor order within each shard", async () => {
    const stream = "order";
    const c = await clientWithStream(k.endpoint, stream, 3);
    const sink = createKinesisSink(sinkConfig(stream, k.endpoint), sinkContext());
    await sink.start();
    for (let b = 0; b < 5; b++)
      expect(await sink.write(makeRecords(400, 11, 1 + b * 400), signal)).toEqual({});
    await sink.close();
    const last = new Map<string, number>();
    for (const shard of await readBack(c, stream)) {
      for (const u of shard.users) {
        const rec = decodeRecord(u.data);
        expect(rec.seq).toBeGreaterThan(last.get(rec.sensor) ?? 0);
        last.set(rec.sensor, rec.seq);
      }
    }
    expect([...last.keys()].length).toBe(11);
    c.destroy();
  });

  it("aggregation=false sends one Kinesis record per reading, in several calls past 500", async () => {
    const stream = "single";
    const c = await clientWithStream(k.endpoint, stream, 2);
    const sink = createKinesisSink(sinkConfig(stream, k.endpoint, { aggregation: false }), sinkContext());
    await sink.start();
    const batch = makeRecords(1200, 5);
    expect(await sink.write(batch, signal)).toEqual({});
    expect(sink.stats().calls).toBeGreaterThanOrEqual(3);
    await sink.close();
    const back = await readBack(c, stream);
    const ids = back.flatMap((s) => s.users.map((u) => decodeRecord(u.data).id));
    expect(back.reduce((n, s) => n + s.kinesisRecords, 0)).toBe(1200);
    expect(ids.sort()).toEqual(batch.map((r) => r.id).sort());
    for (const s of back)
      for (const u of s.users) {
        const h = hashKeyOf(u.partitionKey);
        expect(h >= s.start && h <= s.end).toBe(true);
      }
    c.destroy();
  });

  it.each([true, false])(
    "rejects a reading over 1 MiB (aggregation=%s) and ships the rest",
    async (aggregation) => {
      const stream = `big-${aggregation}`;
      const c = await clientWithStream(k.endpoint, stream, 1);
      const sink = createKinesisSink(sinkConfig(stream, k.endpoint, { aggregation }), sinkContext());
      await sink.start();
      const batch = [...makeRecords(3, 2), ...makeRecords(1, 2, 100, 1024 * 1024), ...makeRecords(3, 2, 200)];
      const res = await sink.write(batch, signal);
      expect(res.retry).toBeUndefined();
      expect(res.rejected?.map((r) => r.index)).toEqual([3]);
      expect(res.rejected?.[0]?.reason).toMatch(/too-large/);
      await sink.close();
      const ids = (await readBack(c, stream)).flatMap((s) => s.users.map((u) => decodeRecord(u.data).id));
      expect(ids.sort()).toEqual(
        batch
          .filter((_, i) => i !== 3)
          .map((r) => r.id)
          .sort(),
      );
      c.destroy();
    },
  );

  it("splits one large batch into aggregates of at most 1 MiB", async () => {
    const stream = "large";
    const c = await clientWithStream(k.endpoint, stream, 1);
    const sink = createKinesisSink(
      sinkConfig(stream, k.endpoint, { shardLimits: { enabled: false } }),
      sinkContext(),
    );
    await sink.start();
    const batch = makeRecords(600, 4, 1, 5000); // ~3 MiB
    expect(await sink.write(batch, signal)).toEqual({});
    await sink.close();
    const back = await readBack(c, stream);
    expect(back[0]!.kinesisRecords).toBeGreaterThanOrEqual(3);
    expect(back[0]!.users.length).toBe(600);
    c.destroy();
  });

  it("a reading larger than maxAggregateBytes or a second's shard budget still goes, alone", async () => {
    const stream = "bulky";
    const c = await clientWithStream(k.endpoint, stream, 1);
    const cfg = sinkConfig(stream, k.endpoint, {
      maxAggregateBytes: "8KiB",
      shardLimits: { bytesPerSecond: "16KiB" },
    });
    const sink = createKinesisSink(cfg, sinkContext());
    await sink.start();
    const batch = [...makeRecords(5, 2), ...makeRecords(1, 2, 50, 40_000), ...makeRecords(5, 2, 60)];
    expect(await sink.write(batch, signal)).toEqual({});
    await sink.close();
    const back = await readBack(c, stream);
    expect(back[0]!.users.map((u) => decodeRecord(u.data).id)).toEqual(batch.map((r) => r.id));
    c.destroy();
  });

  it("partition key templates: agent and {agent}/{sensor}", async () => {
    const stream = "pk-templates";
    const c = await clientWithStream(k.endpoint, stream, 2);
    for (const partitionKey of ["agent", "{agent}/{sensor}"]) {
      const sink = createKinesisSink(sinkConfig(stream, k.endpoint, { partitionKey }), sinkContext());
      await sink.start();
      expect(await sink.write(makeRecords(50, 3, partitionKey === "agent" ? 1 : 1000), signal)).toEqual({});
      await sink.close();
    }
    const keys = new Set((await readBack(c, stream)).flatMap((s) => s.users.map((u) => u.partitionKey)));
    expect(keys).toEqual(
      new Set(["test-agent", "test-agent/room-0/t1", "test-agent/room-1/t1", "test-agent/room-2/t1"]),
    );
    c.destroy();
  });
});
