import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KplAggregate, singleAggregateSize } from "../../agent/sinks/kinesis/aggregate.js";
import { ShardBudget } from "../../agent/sinks/kinesis/bucket.js";
import { kinesisSinkSchema } from "../../agent/sinks/kinesis/config.js";
import { fitPartitionKey, hashKeyOf, partitionKeyFn } from "../../agent/sinks/kinesis/keys.js";
import { deaggregate, makeRecords } from "./helpers.js";

const userRecord = fc.record({
  key: fc.string({ minLength: 1, maxLength: 40, unit: "grapheme" }),
  data: fc.uint8Array({ minLength: 0, maxLength: 400 }),
});

describe("KPL aggregate encoder", () => {
  it("round-trips through aws-kinesis-agg, with exact sizes (property)", () => {
    fc.assert(
      fc.property(fc.array(userRecord, { minLength: 1, maxLength: 60 }), (recs) => {
        const agg = new KplAggregate(1024 * 1024);
        for (const r of recs) expect(agg.tryAdd(r.key, Buffer.from(r.data))).toBe(true);
        const buf = agg.encode();
        // size = data + the aggregate's partition key (the first record's), in UTF-8 bytes.
        expect(agg.size).toBe(buf.length + Buffer.byteLength(recs[0]!.key));
        const users = deaggregate(buf, agg.partitionKey!);
        expect(users.map((u) => u.partitionKey)).toEqual(recs.map((r) => r.key));
        for (const [i, u] of users.entries()) expect(u.raw.equals(Buffer.from(recs[i]!.data))).toBe(true);
        expect(users.every((u) => u.explicitHashKey === undefined)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it("keeps raw bytes intact and stops at the size limit", () => {
    const agg = new KplAggregate(600);
    const data = Buffer.from([0, 255, 1, 128, 0xf3, 0x89]);
    let n = 0;
    while (agg.tryAdd(`k${n % 3}`, data)) n++;
    expect(agg.size).toBeLessThanOrEqual(600);
    expect(agg.encode().length + 2).toBe(agg.size);
    expect(singleAggregateSize(2, data.length)).toBeLessThan(600);
    const back = new KplAggregate(600);
    back.tryAdd("k", data);
    const buf = back.encode();
    expect(buf.subarray(0, 4)).toEqual(Buffer.from([0xf3, 0x89, 0x9a, 0xc2]));
    expect(n).toBeGreaterThan(10);
  });

  it("detects a corrupted aggregate via the MD5 trailer", () => {
    const agg = new KplAggregate(1024 * 1024);
    agg.tryAdd("k", Buffer.from("hello"));
    const buf = agg.encode();
    buf[buf.length - 20] = buf[buf.length - 20]! ^ 0xff;
    expect(() => deaggregate(buf, "k")).toThrow();
  });
});

describe("partition keys", () => {
  it("maps like Kinesis: MD5 of the key as a 128-bit number", () => {
    expect(hashKeyOf("a")).toBe(BigInt("0x0cc175b9c0f1b6a831c399e269772661"));
  });

  it("fits any key into 1-256 characters, the same way every time (property)", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 600 }), (k) => {
        const f = fitPartitionKey(k);
        expect(f.length).toBeGreaterThanOrEqual(1);
        expect(f.length).toBeLessThanOrEqual(256);
        expect(fitPartitionKey(k)).toBe(f);
        if (k.length >= 1 && k.length <= 256) expect(f).toBe(k);
      }),
    );
  });

  it("templates read record fields; an empty key falls back to the sensor", () => {
    const [r] = makeRecords(1, 3);
    expect(partitionKeyFn("{source}:{sensor}", "pi")(r!)).toBe(`test:${r!.sensor}`);
    expect(partitionKeyFn("{missing}", "pi")(r!)).toBe(r!.sensor);
    expect(partitionKeyFn("agent", "pi")(r!)).toBe("pi");
    expect(partitionKeyFn("random", "pi")(r!)).not.toBe(partitionKeyFn("random", "pi")(r!));
  });
});

describe("per-shard budget", () => {
  it("allows one second's worth, then refills at the rate", () => {
    let now = 0;
    const b = new ShardBudget(1000, 1024 * 1024, () => now);
    expect(b.tryTake(1, 1024 * 1024)).toBe(true);
    expect(b.tryTake(1, 1)).toBe(false);
    expect(b.waitMs(1, 512 * 1024)).toBe(500);
    now += 500;
    expect(b.tryTake(1, 512 * 1024)).toBe(true);
    now += 2000;
    expect(b.availableBytes()).toBe(1024 * 1024);
    b.drain();
    expect(b.availableBytes()).toBe(0);
  });
});

describe("kinesis sink config", () => {
  it("reports bad values by key", () => {
    const res = kinesisSinkSchema.safeParse({
      type: "kinesis",
      id: "k",
      stream: "bad name!",
      endpoint: "not a url",
      maxAggregateBytes: "2MiB",
      bogus: 1,
    });
    expect(res.success).toBe(false);
    const paths = res.error!.issues.map((i) => i.path.join(".") || i.code);
    expect(paths).toEqual(expect.arrayContaining(["stream", "endpoint", "maxAggregateBytes"]));
    expect(res.error!.issues.some((i) => i.code === "unrecognized_keys")).toBe(true);
  });

  it("has kinesis-sized batching defaults", () => {
    const cfg = kinesisSinkSchema.parse({ type: "kinesis", id: "k", stream: "s" });
    expect(cfg).toMatchObject({
      maxBatchRecords: 5000,
      maxBufferAgeMs: 300,
      aggregation: true,
      partitionKey: "sensor",
    });
  });
});
