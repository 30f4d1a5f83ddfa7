import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  createParser,
  type ParseResult,
  type ParserOptions,
  REJECT_REASONS,
} from "../../agent/parse/index.js";
import { TS_MAX_MS, TS_MIN_MS } from "../../agent/parse/values.js";

const configs: Partial<ParserOptions>[] = [
  {},
  { preset: "kinesis-tutorial" },
  { format: "csv", header: true },
  { format: "csv" },
  { format: "kv" },
  { format: "kv", sensor: "s" },
  { format: "number", sensor: "{room}/x" },
  { unit: "F", fields: { temperature: "a.b", sensor: "c" } },
  { unit: "mC", range: { min: 0, max: 10 } },
];

/** Every outcome is either readings that satisfy the record contract, or one known reason. */
function checkResult(r: ParseResult, range = { min: -60, max: 125 }): void {
  if (!r.ok) {
    expect(REJECT_REASONS).toContain(r.reason);
    expect(typeof r.detail).toBe("string");
    // The parser's last-resort catch: reaching it means a bug, not bad input.
    expect(r.detail).not.toMatch(/^parser error/);
    return;
  }
  for (const x of r.readings) {
    expect(typeof x.sensor).toBe("string");
    expect(x.sensor.trim().length).toBeGreaterThan(0);
    expect(Number.isFinite(x.temperature)).toBe(true);
    expect(x.temperature).toBeGreaterThanOrEqual(range.min);
    expect(x.temperature).toBeLessThanOrEqual(range.max);
    if (x.humidity !== undefined) expect(x.humidity >= 0 && x.humidity <= 100).toBe(true);
    if (x.deviceTs !== undefined) {
      expect(Number.isInteger(x.deviceTs)).toBe(true);
      expect(x.deviceTs >= TS_MIN_MS && x.deviceTs < TS_MAX_MS).toBe(true);
    }
    if (x.deviceSeq !== undefined) expect(Number.isSafeInteger(x.deviceSeq)).toBe(true);
    if (x.attrs !== undefined) expect(JSON.stringify(x.attrs).length).toBeLessThan(8192);
  }
}

const ctxArb = fc.record({ topic: fc.string(), vars: fc.constantFrom(undefined, { room: "r1" }) });

describe("parser properties", () => {
  it("arbitrary bytes never throw and give valid readings or a reason", () => {
    const parsers = configs.map((c) => createParser(c));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), ctxArb, fc.nat(configs.length - 1), (bytes, ctx, i) => {
        checkResult(parsers[i]!.parse(bytes, ctx), configs[i]!.range);
      }),
      { numRuns: 2000 },
    );
  });

  it("arbitrary strings never throw and give valid readings or a reason", () => {
    const parsers = configs.map((c) => createParser(c));
    fc.assert(
      fc.property(
        fc.string({ unit: "binary", maxLength: 300 }),
        ctxArb,
        fc.nat(configs.length - 1),
        (s, ctx, i) => {
          checkResult(parsers[i]!.parse(s, ctx), configs[i]!.range);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("arbitrary JSON documents with reading-like fields never throw", () => {
    const p = createParser({});
    const value = fc.oneof(
      fc.double(),
      fc.string(),
      fc.constantFrom("NaN", "Infinity", "1e999", "-0", "23.5", "", null, true),
      fc.integer(),
      fc.jsonValue({ maxDepth: 3 }),
    );
    const doc = fc.record(
      {
        sensor: value,
        temperature: value,
        humidity: value,
        ts: value,
        seq: value,
        attrs: fc.jsonValue({ maxDepth: 4 }),
        __proto__: fc.jsonValue({ maxDepth: 2 }),
        id: fc.constantFrom("cAAAAAAAAAAAAAAAAAAAAAA", "x"),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(doc, fc.array(doc, { maxLength: 5 }), fc.anything()), (d) => {
        const text = JSON.stringify(d) ?? "";
        checkResult(p.parse(text));
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }),
      { numRuns: 2000 },
    );
  });
});

const sensorArb = fc.stringMatching(/^[A-Za-z0-9_/-]{1,20}$/);
// -0 prints as "0"; the canonical value is 0 either way.
const tempArb = fc.double({ min: -60, max: 125, noNaN: true }).map((t) => (Object.is(t, -0) ? 0 : t));
const humArb = fc.option(
  fc.double({ min: 0, max: 100, noNaN: true }).map((h) => (Object.is(h, -0) ? 0 : h)),
  {
    nil: undefined,
  },
);
const tsArb = fc.option(fc.integer({ min: TS_MIN_MS, max: TS_MAX_MS - 1 }), { nil: undefined });
const readingArb = fc.record({ sensor: sensorArb, temperature: tempArb, humidity: humArb, deviceTs: tsArb });

function expected(r: { sensor: string; temperature: number; humidity?: number; deviceTs?: number }) {
  const o: Record<string, unknown> = { sensor: r.sensor, temperature: r.temperature };
  if (r.humidity !== undefined) o.humidity = r.humidity;
  if (r.deviceTs !== undefined) o.deviceTs = r.deviceTs;
  return o;
}

describe("round trips", () => {
  it("json (single and batch)", () => {
    const p = createParser({});
    fc.assert(
      fc.property(fc.array(readingArb, { minLength: 1, maxLength: 20 }), (rs) => {
        const docs = rs.map((r) => ({
          sensor: r.sensor,
          temperature: r.temperature,
          humidity: r.humidity,
          ts: r.deviceTs,
        }));
        const res = p.parse(JSON.stringify(rs.length === 1 ? docs[0] : docs));
        expect(res).toEqual({ ok: true, readings: rs.map(expected) });
      }),
    );
  });

  it("csv with a header", () => {
    fc.assert(
      fc.property(fc.array(readingArb, { minLength: 1, maxLength: 20 }), (rs) => {
        const p = createParser({ format: "csv", header: true });
        const lines = rs.map((r) => [r.sensor, r.temperature, r.humidity ?? "", r.deviceTs ?? ""].join(","));
        const res = p.parse(["sensor,temperature,humidity,ts", ...lines].join("\n"));
        expect(res).toEqual({ ok: true, readings: rs.map(expected) });
      }),
    );
  });

  it("kv", () => {
    const p = createParser({ format: "kv" });
    fc.assert(
      fc.property(readingArb, (r) => {
        let line = `sensor=${r.sensor} T=${r.temperature}`;
        if (r.humidity !== undefined) line += ` H=${r.humidity}`;
        if (r.deviceTs !== undefined) line += ` ts=${r.deviceTs}`;
        expect(p.parse(line)).toEqual({ ok: true, readings: [expected(r)] });
      }),
    );
  });

  it("number", () => {
    const p = createParser({ format: "number", sensor: "probe" });
    fc.assert(
      fc.property(tempArb, (t) => {
        expect(p.parse(`${t}\r\n`)).toEqual({ ok: true, readings: [{ sensor: "probe", temperature: t }] });
      }),
    );
  });
});

describe("unit conversions", () => {
  it("°F back to °C within 1e-6", () => {
    const p = createParser({ unit: "F", sensor: "s", format: "number" });
    fc.assert(
      fc.property(fc.double({ min: -60, max: 125, noNaN: true }), (c) => {
        const r = p.parse(String((c * 9) / 5 + 32));
        expect(r.ok).toBe(true);
        if (r.ok) expect(Math.abs(r.readings[0]!.temperature - c)).toBeLessThan(1e-5);
      }),
    );
  });

  it("milli-°C is exact for integers", () => {
    const p = createParser({ unit: "mC", sensor: "s", format: "number" });
    fc.assert(
      fc.property(fc.integer({ min: -60_000, max: 125_000 }), (m) => {
        expect(p.parse(String(m))).toEqual({ ok: true, readings: [{ sensor: "s", temperature: m / 1000 }] });
      }),
    );
  });
});
