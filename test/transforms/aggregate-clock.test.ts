import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AggregateTransform } from "../../agent/pipeline/transforms/aggregate.js";
import { FutureGuard, MAX_CALL_GAP_MS, MAX_FUTURE_MS } from "../../agent/pipeline/transforms/clock.js";
import { encodeRecord, type OutRecord } from "../../agent/record/record.js";

const W = 60_000;
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 22, 1, 0, 0);

function rec(seq: number, sensor: string, tsMs: number, rxMs: number): OutRecord {
  const body = encodeRecord({
    id: `r${seq}`,
    sensor,
    ts: new Date(tsMs).toISOString(),
    temperature: 20,
    source: "m",
    agent: "pi",
    seq,
    rx: new Date(rxMs).toISOString(),
  });
  return { seq, id: `r${seq}`, sensor, tsMs, rxMs, body };
}

function count(out: readonly OutRecord[]): number {
  return out.reduce((n, o) => n + (JSON.parse(o.body) as { attrs: { count: number } }).attrs.count, 0);
}

describe("aggregate idle close under wall-clock steps", () => {
  it("closes a silent sensor's window after window + lateness of polled idle time", () => {
    const t = new AggregateTransform("pi", { windowMs: W, allowedLatenessMs: 0, stats: ["count"] });
    t.process([rec(1, "k", T0 + 1_000, T0 + 1_000)], T0 + 1_000);
    let now = T0 + 1_000;
    const out: OutRecord[] = [];
    while (now < T0 + W) {
      now += 1_000;
      out.push(...t.flush(now));
      if (now < T0 + W) expect(out).toEqual([]);
    }
    expect(count(out)).toBe(1);
    expect(t.heldSeq()).toBeUndefined();
  });

  it("a forward step between ingest and processing does not close the window early", () => {
    const t = new AggregateTransform("pi", { windowMs: W, allowedLatenessMs: 0, stats: ["count"] });
    const rx = T0 + 1_000 - 6 * 3_600_000; // received under the stale clock
    t.process([rec(1, "k", T0 + 1_000, rx)], rx + 500);
    // Processed after NTP stepped 6 h forward: the record looks 6 h old, but is not.
    expect(t.process([rec(2, "k", T0 + 2_000, rx + 1_000)], T0 + 2_000)).toEqual([]);
    expect(t.flush(T0 + 3_000)).toEqual([]);
    expect(t.process([rec(3, "k", T0 + 3_000, T0 + 3_000)], T0 + 3_000)).toEqual([]);
    expect(t.lateTotal).toBe(0);
  });

  it("a backward step does not stall the idle close", () => {
    const t = new AggregateTransform("pi", { windowMs: W, allowedLatenessMs: 0, stats: ["count"] });
    t.process([rec(1, "k", T0 + 1_000, T0 + 1_000)], T0 + 1_000);
    let now = T0 + 1_000 - 10 * DAY;
    const out: OutRecord[] = [];
    for (let i = 0; i < 70 && out.length === 0; i++) {
      now += 1_000;
      out.push(...t.flush(now));
    }
    expect(count(out)).toBe(1);
  });

  it("never drops an in-order reading as late when lateness covers one call gap, whatever the steps", () => {
    const step = fc.oneof(
      fc.integer({ min: 0, max: 3_000 }),
      fc.integer({ min: -30 * DAY, max: 30 * DAY }),
      fc.constant(T0 - DAY), // back from 1970 to now
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 30_000 }), step, step), { minLength: 1, maxLength: 60 }),
        // The first reading needs a clock to judge it by: an unset one (1970) or about the right one.
        fc.oneof(
          fc.integer({ min: 1, max: 365 * DAY }),
          fc.integer({ min: T0 - 3_600_000, max: T0 + 365 * DAY }),
        ),
        (steps, boot) => {
          const t = new AggregateTransform("pi", {
            windowMs: W,
            allowedLatenessMs: MAX_CALL_GAP_MS,
            stats: ["count"],
          });
          let wall = boot;
          let ts = T0;
          const out: OutRecord[] = [];
          steps.forEach(([dTs, s1, s2], i) => {
            ts += dTs;
            if (i > 0) wall = Math.max(1, wall + s1);
            out.push(...t.process([rec(i + 1, "k", ts, wall)], wall));
            wall = Math.max(1, wall + s2);
            out.push(...t.flush(wall));
          });
          expect(t.lateTotal).toBe(0);
          for (let i = 0; i < 200 && t.heldSeq() !== undefined; i++) {
            wall += 1_000;
            out.push(...t.flush(wall));
          }
          expect(t.heldSeq()).toBeUndefined();
          expect(count(out)).toBe(steps.length);
          expect(new Set(out.map((o) => o.id)).size).toBe(out.length);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("far-future guard: whose clock is wrong", () => {
  const ahead = T0 + 5 * DAY;

  it("keeps correct devices while the agent is in 1970", () => {
    const g = new FutureGuard();
    expect(g.admit("a", T0, DAY)).toBe(true);
    expect(g.admit("b", T0 + 5, DAY + 5)).toBe(true);
    // ...but still drops a device far ahead of the fleet.
    expect(g.admit("c", T0 + 400 * DAY, DAY + 9)).toBe(false);
  });

  it("drops a device whose clock jumps far ahead of its own history, and keeps it when it comes back", () => {
    const g = new FutureGuard();
    expect(g.admit("a", T0, T0)).toBe(true);
    expect(g.admit("a", T0 + 365 * DAY, T0 + 10_000)).toBe(false);
    expect(g.admit("a", T0 + 20_000, T0 + 20_000)).toBe(true);
  });

  it("a silent device resumes after days: its history allows the rx time elapsed", () => {
    const g = new FutureGuard();
    expect(g.admit("a", DAY * 3, DAY)).toBe(true);
    expect(g.admit("a", DAY * 3 + 5 * DAY, DAY + 5 * DAY)).toBe(true);
  });

  it("a stale agent clock (fake-hwclock days behind): a second device agreeing vouches for both", () => {
    const g = new FutureGuard();
    const rx = ahead - 5 * DAY - 4 * DAY; // plausible, but 4 days behind the devices
    expect(g.admit("a", ahead - 5 * DAY, rx)).toBe(false);
    expect(g.admit("b", ahead - 5 * DAY + 100, rx + 100)).toBe(true);
    expect(g.admit("a", ahead - 5 * DAY + 200, rx + 200)).toBe(true);
    // One device disagreeing with the rest is still dropped.
    expect(g.admit("c", ahead + 300 * DAY, rx + 300)).toBe(false);
  });

  it("a lone device far ahead of a plausible agent clock is dropped (undecidable: protect the watermark)", () => {
    const g = new FutureGuard();
    expect(g.admit("a", T0 + MAX_FUTURE_MS + 1, T0)).toBe(false);
    expect(g.admit("a", T0 + MAX_FUTURE_MS, T0)).toBe(true);
  });

  it("through the transform: 1970 agent, correct devices, then NTP: nothing dropped", () => {
    const t = new AggregateTransform("pi", { windowMs: W, allowedLatenessMs: 0, stats: ["count"] });
    const out = [
      ...t.process([rec(1, "a", T0 + 1_000, DAY), rec(2, "b", T0 + 2_000, DAY + 1_000)], DAY + 1_000),
      ...t.process([rec(3, "a", T0 + W + 1_000, DAY + W)], DAY + W),
      ...t.process([rec(4, "b", T0 + W + 2_000, T0 + W + 2_000)], T0 + W + 2_000),
    ];
    expect(t.dropped).toBe(0);
    expect(t.lateTotal).toBe(0);
    expect(count(out)).toBe(2);
  });
});
