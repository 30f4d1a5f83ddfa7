import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { FIREHOSE_LIMITS, firehoseSinkSchema } from "../../agent/sinks/firehose/config.js";
import { createFirehoseSink, type FirehoseSink } from "../../agent/sinks/firehose/index.js";
import { billedUnits, calls, pack, unpack } from "../../agent/sinks/firehose/packing.js";
import { CREDS, makeRecords, ship } from "../kinesis/helpers.js";
import { expectAccepted, records, sinkConformance, testContext } from "./conformance.js";
import { type FirehoseEndpoint, startFirehoseEndpoint } from "./firehose-endpoint.js";

const signal = new AbortController().signal;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function make(ep: FirehoseEndpoint, extra: Record<string, unknown> = {}, ctx = testContext()): FirehoseSink {
  const cfg = firehoseSinkSchema.parse({
    type: "firehose",
    id: "fh",
    deliveryStream: "readings",
    endpoint: ep.endpoint,
    region: "us-east-1",
    ...CREDS,
    ...extra,
  });
  const sink = createFirehoseSink(cfg, ctx);
  cleanups.push(() => sink.close());
  return sink;
}

async function endpoint(faults: Parameters<typeof startFirehoseEndpoint>[0] = {}, seed = 1) {
  const ep = await startFirehoseEndpoint(faults, seed);
  cleanups.push(() => ep.close());
  return ep;
}

const lines = (ep: FirehoseEndpoint) => ep.stored.flatMap((d) => unpack(d));

for (const packing of [true, false]) {
  sinkConformance(packing ? "firehose (packed)" : "firehose (one reading per record)", async () => {
    const ep = await startFirehoseEndpoint();
    return {
      make: () => make(ep, { packing }),
      received: () => lines(ep),
      outage: {
        begin: () => Promise.resolve(void (ep.down = true)),
        end: () => Promise.resolve(void (ep.down = false)),
      },
      teardown: () => ep.close(),
    };
  });
}

describe("firehose sink", () => {
  it("sends PutRecordBatch as the SDK does, packing many readings into one record", async () => {
    const ep = await endpoint();
    const batch = makeRecords(1200, 8);
    const packed = make(ep);
    expectAccepted(await packed.write(batch, signal));
    expect(ep.calls).toEqual([
      expect.objectContaining({
        target: "Firehose_20150804.PutRecordBatch",
        contentType: "application/x-amz-json-1.1",
        stream: "readings",
        records: 1,
      }),
    ]);
    expect(lines(ep)).toEqual(batch.map((r) => r.body));
    // One reading per record: 1,200 records need three calls of at most 500.
    const single = make(ep, { packing: false });
    expectAccepted(await single.write(batch, signal));
    expect(ep.calls.slice(1).map((c) => c.records)).toEqual([500, 500, 200]);
    expect(packed.stats().billedUnits).toBeLessThan(single.stats().billedUnits / 10);
  });

  it("retries only the readings inside failed records, and hands back exactly those", async () => {
    const ep = await endpoint({ recordFailure: 0.4 }, 7);
    const batch = makeRecords(300, 5);
    // Small records (about 10 readings each) and one attempt: failures come back to the caller.
    const sink = make(ep, { maxRecordBytes: "3KiB", entryAttempts: 1 });
    const res = await sink.write(batch, signal);
    const arrived = new Set(lines(ep));
    const missing = batch.flatMap((r, i) => (arrived.has(r.body) ? [] : [i]));
    expect(ep.counts.failedRecords).toBeGreaterThan(0);
    expect(res.retry).toEqual(missing);
    expect(res.rejected).toBeUndefined();
  });

  it("delivers every reading at least once through failed records, 5xx, throttling and cut connections", async () => {
    const ep = await endpoint({ recordFailure: 0.15, serverError: 0.15, cutAfterAccept: 0.1 }, 3);
    const ctx = testContext();
    const sink = make(ep, { maxRecordBytes: "8KiB" }, ctx);
    const batches = Array.from({ length: 12 }, (_, i) => makeRecords(250, 9, 1 + i * 250));
    for (const b of batches) await ship(sink, b, ctx.telemetry);
    const got = lines(ep);
    const ids = new Set(got.map((l) => (JSON.parse(l) as { id: string }).id));
    const all = batches.flat();
    expect(all.filter((r) => !ids.has(r.id))).toEqual([]);
    // Bodies arrive byte-identical (ids and all); duplicates only from resent records.
    const bodies = new Set(all.map((r) => r.body));
    expect(got.every((l) => bodies.has(l))).toBe(true);
    expect(ep.counts.cuts + ep.counts.serverErrors + ep.counts.failedRecords).toBeGreaterThan(5);
    expect(sink.stats().throttled).toBeGreaterThan(0);
    expect(ep.violations).toEqual([]);
  });

  it("rejects a reading that cannot fit a record, and sends the rest", async () => {
    const ep = await endpoint();
    const sink = make(ep, { maxRecordBytes: "2KiB" });
    const batch = [...records(2), ...makeRecords(1, 1, 1, 4000), ...records(2)];
    const res = await sink.write(batch, signal);
    expect(res.retry).toBeUndefined();
    expect(res.rejected?.map((r) => r.index)).toEqual([2]);
    expect(res.rejected?.[0]?.reason).toMatch(/too-large/);
    expect(lines(ep)).toHaveLength(4);
  });

  it("packing stays inside every Firehose limit and round-trips every reading (property)", () => {
    const body = fc
      .string({ unit: "grapheme", minLength: 1, maxLength: 400 })
      .map((s) => JSON.stringify({ id: s }));
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            { weight: 20, arbitrary: body },
            { weight: 1, arbitrary: fc.nat(60_000).map((n) => JSON.stringify({ pad: "x".repeat(n) })) },
          ),
          { maxLength: 800 },
        ),
        fc.integer({ min: 64 * 1024, max: FIREHOSE_LIMITS.bytesPerRecord }),
        fc.boolean(),
        (bodies, maxRecordBytes, perRecord) => {
          const readings = bodies.map((b, index) => ({ index, body: Buffer.from(b) }));
          const packed = pack(readings, maxRecordBytes, perRecord);
          for (const p of packed) {
            expect(p.data.length).toBeLessThanOrEqual(maxRecordBytes);
            expect(unpack(p.data)).toEqual(p.indices.map((i) => bodies[i]));
          }
          expect(packed.flatMap((p) => p.indices)).toEqual(readings.map((r) => r.index));
          for (const call of calls(packed)) {
            expect(call.length).toBeLessThanOrEqual(FIREHOSE_LIMITS.recordsPerCall);
            expect(call.reduce((n, p) => n + p.data.length, 0)).toBeLessThanOrEqual(
              FIREHOSE_LIMITS.bytesPerCall,
            );
          }
          expect(calls(packed).flat()).toEqual(packed);
        },
      ),
      { numRuns: 200 },
    );
    expect([billedUnits(1), billedUnits(5120), billedUnits(5121)]).toEqual([1, 1, 2]);
  });
});
