import { describe, expect, it } from "vitest";
import { compileFilter, FilterTransform, validateFilter } from "../../agent/pipeline/transforms/filter.js";
import type { OutRecord } from "../../agent/record/record.js";

const rec = {
  id: "c1",
  sensor: "kitchen/t1",
  temperature: 36.5,
  source: "m",
  agent: "pi",
  attrs: { battery: 9, room: "k" },
};

function out(seq: number, body: string): OutRecord {
  return { seq, id: `r${seq}`, sensor: "s", tsMs: seq, rxMs: seq, body };
}

describe("compileFilter", () => {
  it.each([
    ["temperature >= 35", true],
    ["temperature < 35", false],
    ['sensor == "kitchen/t1" and temperature > 30', true],
    ["attrs.battery < 10", true],
    ['attrs.room == "k"', true],
    ["humidity > 60", false],
    ["not exists(humidity)", true],
    ["attrs.missing.deeper > 1", false],
    ['source in ("m", "x")', true],
  ])("%s → %s", (expr, expected) => {
    expect(compileFilter(expr)(rec)).toBe(expected);
  });

  it("never reaches inherited properties", () => {
    expect(compileFilter("constructor")(rec)).toBe(false);
    expect(compileFilter("exists(toString)")(rec)).toBe(false);
    expect(compileFilter("exists(attrs.__proto__)")(rec)).toBe(false);
  });

  it("rejects bad expressions with a message at compile time", () => {
    expect(() => compileFilter("temperature >=")).toThrow(/invalid filter "temperature >="/);
    expect(validateFilter("temperature >= 35")).toBeUndefined();
    expect(validateFilter("temperature >=")).toMatch(/invalid filter/);
    expect(validateFilter("evil(1) > 0")).toMatch(/unknown function evil\(\)/);
    expect(validateFilter('"foo(" == sensor and max(1, 2) > 1')).toBeUndefined();
  });
});

describe("FilterTransform", () => {
  it("keeps matching records in order and counts the dropped ones", () => {
    const t = new FilterTransform("temperature >= 30");
    const batch = [
      out(1, JSON.stringify({ ...rec, temperature: 31 })),
      out(2, JSON.stringify({ ...rec, temperature: 20 })),
      out(3, "not json"),
      out(4, JSON.stringify({ ...rec, temperature: 40 })),
    ];
    const kept = t.process(batch);
    expect(kept.map((r) => r.seq)).toEqual([1, 4]);
    expect(t.dropped).toBe(2);
    expect(t.heldSeq()).toBeUndefined();
    expect(t.process([])).toEqual([]);
    expect(t.dropped).toBe(0);
  });
});
