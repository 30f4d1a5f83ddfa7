import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AggregateTransform } from "../../agent/pipeline/transforms/aggregate.js";
import { MAX_CALL_GAP_MS } from "../../agent/pipeline/transforms/clock.js";
import { createTransforms } from "../../agent/pipeline/transforms/index.js";
import { aggregateId } from "../../agent/record/ids.js";
import { encodeRecord, type OutRecord } from "../../agent/record/record.js";

const W = 60_000;
const OPT = {
  windowMs: W,
  allowedLatenessMs: 5_000,
  stats: ["count", "min", "max", "mean", "last"] as const,
};
const T0 = Date.UTC(2026, 10, 22, 1, 0, 0);

interface In {
  sensor: string;
  tsMs: number;
  temperature: number;
  humidity?: number;
}

function toOut(rs: readonly In[]): OutRecord[] {
  return rs.map((r, i) => {
    const seq = i + 1;
    const body = encodeRecord({
      id: `r${seq}`,
      sensor: r.sensor,
      ts: new Date(r.tsMs).toISOString(),
      temperature: r.temperature,
      ...(r.humidity === undefined ? {} : { humidity: r.humidity }),
      source: "src",
      agent: "pi",
      seq,
      rx: new Date(r.tsMs + 10).toISOString(),
    });
    return { seq, id: `r${seq}`, sensor: r.sensor, tsMs: r.tsMs, rxMs: r.tsMs + 10, body };
  });
}

/**
 * Plain recomputation: classify late records by a per-sensor watermark, then group. The watermark
 * is the running maximum of the sensor's ts, or its newest ts plus the stream time since (receive
 * time summed over the records in between, each gap clamped to [0, MAX_CALL_GAP_MS]) if higher.
 */
function reference(rs: readonly OutRecord[], lateness: number) {
  const wm = new Map<string, number>();
  const newest = new Map<string, { ts: number; seen: number }>();
  let stream = 0;
  let lastRx: number | undefined;
  const groups = new Map<
    string,
    { sensor: string; start: number; temps: number[]; ts: number[]; seqs: number[] }
  >();
  let late = 0;
  for (const r of rs) {
    const start = Math.floor(r.tsMs / W) * W;
    if (lastRx !== undefined) stream += Math.min(Math.max(r.rxMs - lastRx, 0), MAX_CALL_GAP_MS);
    lastRx = r.rxMs;
    const n = newest.get(r.sensor);
    const m = Math.max(wm.get(r.sensor) ?? Number.NEGATIVE_INFINITY, n ? n.ts + stream - n.seen : -Infinity);
    if (start + W + lateness <= m) {
      late++;
      continue;
    }
    wm.set(r.sensor, Math.max(m, r.tsMs));
    if (!n || r.tsMs > n.ts) newest.set(r.sensor, { ts: r.tsMs, seen: stream });
    const key = `${r.sensor}|${start}`;
    const g = groups.get(key) ?? { sensor: r.sensor, start, temps: [], ts: [], seqs: [] };
    g.temps.push(JSON.parse(r.body).temperature);
    g.ts.push(r.tsMs);
    g.seqs.push(r.seq);
    groups.set(key, g);
  }
  const aggs = [...groups.values()].map((g) => {
    const maxTs = Math.max(...g.ts);
    let last = Number.NaN;
    g.ts.forEach((t, i) => {
      if (t === maxTs) last = g.temps[i]!;
    });
    return {
      id: aggregateId("pi", g.sensor, g.start, W),
      count: g.temps.length,
      min: Math.min(...g.temps),
      max: Math.max(...g.temps),
      mean: g.temps.reduce((a, b) => a + b, 0) / g.temps.length,
      last,
      seq: Math.max(...g.seqs),
    };
  });
  return { aggs: aggs.sort((a, b) => a.id.localeCompare(b.id)), late };
}

const inputArb = fc
  .array(
    fc.record({
      sensor: fc.constantFrom("a", "b", "c"),
      step: fc.integer({ min: -20_000, max: 40_000 }),
      temperature: fc.integer({ min: -400, max: 600 }).map((x) => x / 10),
    }),
    { maxLength: 120 },
  )
  .map((xs) => {
    let t = T0;
    return xs.map((x): In => {
      t += x.step;
      return { sensor: x.sensor, tsMs: t, temperature: x.temperature };
    });
  });

function splitArb(n: number) {
  return fc
    .array(fc.integer({ min: 0, max: n }), { maxLength: 8 })
    .map((cuts) => [...new Set([0, ...cuts, n])].sort((a, b) => a - b));
}

function runAll(input: readonly OutRecord[], cuts: readonly number[]) {
  const t = new AggregateTransform("pi", OPT);
  const out: OutRecord[] = [];
  for (let i = 1; i < cuts.length; i++) out.push(...t.process(input.slice(cuts[i - 1], cuts[i]), 0));
  return { t, out };
}

describe("aggregate transform", () => {
  it("emits a window once event time passes end + allowed lateness, with canonical fields", () => {
    const t = new AggregateTransform("pi", OPT);
    const input = toOut([
      { sensor: "k", tsMs: T0 + 1_000, temperature: 20, humidity: 40 },
      { sensor: "k", tsMs: T0 + 30_000, temperature: 22, humidity: 50 },
      { sensor: "k", tsMs: T0 + 61_000, temperature: 30 },
      { sensor: "k", tsMs: T0 + 59_000, temperature: 21 }, // within allowed lateness
      { sensor: "k", tsMs: T0 + 65_000, temperature: 31 }, // closes the first window
      { sensor: "k", tsMs: T0 + 10_000, temperature: 99 }, // late: counted, not merged
    ]);
    expect(t.process(input.slice(0, 4), 0)).toEqual([]);
    expect(t.heldSeq()).toBe(1);
    const [agg, ...rest] = t.process(input.slice(4), 0);
    expect(rest).toEqual([]);
    expect(t.dropped).toBe(1);
    expect(t.lateTotal).toBe(1);
    const body = JSON.parse(agg!.body);
    expect(body).toEqual({
      id: aggregateId("pi", "k", T0, W),
      sensor: "k",
      ts: new Date(T0).toISOString(),
      temperature: 21,
      humidity: 45,
      source: "src",
      agent: "pi",
      seq: 4,
      rx: new Date(T0 + 59_010).toISOString(),
      attrs: {
        window: { start: new Date(T0).toISOString(), end: new Date(T0 + W).toISOString(), ms: W },
        count: 3,
        min: 20,
        max: 22,
        mean: 21,
        last: 21,
        humidity: { count: 2, min: 40, max: 50, mean: 45, last: 50 },
      },
    });
    expect(agg!.seq).toBe(4);
    expect(agg!.tsMs).toBe(T0);
    // The emitted window holds seq 4, above the open window's seq 3: a replay must start at 1.
    expect(t.heldSeq()).toBe(1);
  });

  it("closes an idle sensor's window by the wall clock, corrected by the sensor's clock skew", () => {
    const t = new AggregateTransform("pi", { ...OPT, allowedLatenessMs: 0 });
    const skew = 3_600_000; // the device clock runs an hour behind the agent
    const r = toOut([{ sensor: "k", tsMs: T0 + 1_000, temperature: 20 }])[0]!;
    t.process([{ ...r, rxMs: r.tsMs + skew }], 0);
    expect(t.flush(T0 + W + skew - 1)).toEqual([]);
    expect(t.flush(T0 + W + skew)).toHaveLength(1);
    expect(t.heldSeq()).toBeUndefined();
  });

  it("drops undecodable bodies and far-future event times without moving the watermark", () => {
    const t = new AggregateTransform("pi", OPT);
    const [good] = toOut([{ sensor: "k", tsMs: T0, temperature: 20 }]);
    t.process([{ seq: 1, id: "x", sensor: "k", tsMs: T0, rxMs: T0, body: "{not json" }], 0);
    expect(t.dropped).toBe(1);
    expect(t.process([{ ...good!, seq: 2, tsMs: T0 + 86_400_000 * 365, rxMs: T0 }], 0)).toEqual([]);
    expect(t.dropped).toBe(1);
    t.process([{ ...good!, seq: 3 }], 0);
    expect(t.dropped).toBe(0);
    expect(t.lateTotal).toBe(0);
    expect(t.heldSeq()).toBe(3);
    expect(t.flush(T0 + W + OPT.allowedLatenessMs + 10)).toHaveLength(1);
    expect(t.heldSeq()).toBeUndefined();
  });

  it("equals a plain recomputation, whatever the batch split", () => {
    fc.assert(
      fc.property(
        inputArb.chain((xs) => fc.tuple(fc.constant(xs), splitArb(xs.length))),
        ([xs, cuts]) => {
          const input = toOut(xs);
          const { t, out } = runAll(input, cuts);
          const whole = runAll(input, [0, input.length]).out;
          expect(out.map((o) => o.body)).toEqual(whole.map((o) => o.body));
          const all = [...out, ...t.flush(Number.MAX_SAFE_INTEGER)];
          expect(t.heldSeq()).toBeUndefined();
          const ref = reference(input, OPT.allowedLatenessMs);
          expect(t.lateTotal).toBe(ref.late);
          const got = all
            .map((o) => {
              const b = JSON.parse(o.body);
              return { id: b.id, seq: o.seq, ...b.attrs, window: undefined };
            })
            .sort((a, b) => a.id.localeCompare(b.id));
          expect(got.map((g) => g.id)).toEqual(ref.aggs.map((a) => a.id));
          got.forEach((g, i) => {
            const e = ref.aggs[i]!;
            expect([g.count, g.min, g.max, g.last, g.seq]).toEqual([e.count, e.min, e.max, e.last, e.seq]);
            expect(g.mean).toBeCloseTo(e.mean, 5);
          });
        },
      ),
      { numRuns: 200 },
    );
  });

  it("recomputes the same bodies after a crash when replaying from heldSeq", () => {
    fc.assert(
      fc.property(
        inputArb.chain((xs) => fc.tuple(fc.constant(xs), fc.integer({ min: 0, max: xs.length }))),
        ([xs, crashAt]) => {
          const input = toOut(xs);
          const first = new AggregateTransform("pi", OPT);
          const before = first.process(input.slice(0, crashAt), 0);
          const held = first.heldSeq() ?? crashAt + 1;
          const continued = [
            ...first.process(input.slice(crashAt), 0),
            ...first.flush(Number.MAX_SAFE_INTEGER),
          ];
          // Late records make a replay's lateness depend on records it no longer sees (README).
          fc.pre(first.lateTotal === 0);
          const second = new AggregateTransform("pi", OPT);
          const after = [
            ...second.process(
              input.filter((r) => r.seq >= held),
              0,
            ),
            ...second.flush(Number.MAX_SAFE_INTEGER),
          ];
          const firstBodies = new Map(before.map((o) => [o.id, o.body]));
          for (const o of after) if (firstBodies.has(o.id)) expect(o.body).toBe(firstBodies.get(o.id));
          const expected = new Map([...before, ...continued].map((o) => [o.id, o.body]));
          for (const o of after) expect(o.body).toBe(expected.get(o.id));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("builds the configured chain", () => {
    const ts = createTransforms(
      [
        { type: "filter", expression: "temperature > 0" },
        { type: "aggregate", windowMs: W, allowedLatenessMs: 0, stats: ["count"] },
      ],
      { agentId: "pi" },
    );
    expect(ts.map((t) => t.name)).toEqual(["filter", "aggregate"]);
    expect(() => createTransforms([{ type: "filter", expression: "(" }], { agentId: "pi" })).toThrow(
      /invalid filter/,
    );
  });
});
