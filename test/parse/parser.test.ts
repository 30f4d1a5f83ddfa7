import { describe, expect, it } from "vitest";
import { compileTopicTemplate, createParser, type ParseResult } from "../../agent/parse/index.js";
import type { Reading } from "../../agent/record/record.js";

function readings(r: ParseResult): Reading[] {
  if (!r.ok) throw new Error(`rejected: ${r.reason} ${r.detail}`);
  return r.readings;
}
function reason(r: ParseResult): string {
  return r.ok ? "ok" : r.reason;
}

describe("json", () => {
  const p = createParser({});

  it("reads the canonical fields and keeps unknown ones as attrs", () => {
    expect(
      readings(
        p.parse('{"sensor":"k/t1","temperature":23.4,"humidity":41.2,"ts":1763774400123,"seq":7,"bat":3.1}'),
      ),
    ).toEqual([
      {
        sensor: "k/t1",
        temperature: 23.4,
        humidity: 41.2,
        deviceTs: 1763774400123,
        deviceSeq: 7,
        attrs: { bat: 3.1 },
      },
    ]);
  });

  it("takes device time in ms, s or ISO-8601", () => {
    const ts = (v: unknown) =>
      readings(p.parse(JSON.stringify({ sensor: "a", temperature: 1, ts: v })))[0]!.deviceTs;
    expect(ts(1763774400123)).toBe(1763774400123);
    expect(ts(1763774400)).toBe(1763774400000);
    expect(ts(1763774400.5)).toBe(1763774400500);
    expect(ts("2025-11-22T01:20:00.123Z")).toBe(Date.parse("2025-11-22T01:20:00.123Z"));
    expect(ts("1763774400")).toBe(1763774400000);
    expect(reason(p.parse('{"sensor":"a","temperature":1,"ts":12}'))).toBe("out-of-range");
    expect(reason(p.parse('{"sensor":"a","temperature":1,"ts":"yesterday"}'))).toBe("wrong-type");
  });

  it("accepts numeric strings but nothing looser", () => {
    expect(readings(p.parse('{"sensor":"a","temperature":" 21.5 "}'))[0]!.temperature).toBe(21.5);
    expect(reason(p.parse('{"sensor":"a","temperature":"0x10"}'))).toBe("wrong-type");
    expect(reason(p.parse('{"sensor":"a","temperature":"21.5C"}'))).toBe("wrong-type");
    expect(reason(p.parse('{"sensor":"a","temperature":"-Infinity"}'))).toBe("not-finite");
    expect(reason(p.parse('{"sensor":"a","temperature":[1]}'))).toBe("wrong-type");
    expect(reason(p.parse('{"sensor":"a","temperature":null}'))).toBe("missing-field");
  });

  it("reads the Kinesis tutorial payload with its preset", () => {
    const k = createParser({ preset: "kinesis-tutorial" });
    expect(readings(k.parse('{"Timestamp": 1763774400123, "Spot": "A", "Temperature": 23}'))).toEqual([
      { sensor: "A", temperature: 23, deviceTs: 1763774400123 },
    ]);
  });

  it("follows dot paths of a field map", () => {
    const m = createParser({ fields: { sensor: "dev.id", temperature: "state.reported.t" } });
    expect(readings(m.parse('{"dev":{"id":"x9"},"state":{"reported":{"t":"19.25"}},"fw":"1.2"}'))).toEqual([
      { sensor: "x9", temperature: 19.25, attrs: { fw: "1.2" } },
    ]);
  });

  it("reads a batch, all or nothing, capped", () => {
    expect(readings(p.parse('[{"sensor":"a","temperature":1},{"sensor":"b","temperature":2}]'))).toHaveLength(
      2,
    );
    const r = p.parse('[{"sensor":"a","temperature":1},{"sensor":"b","temperature":"x"}]');
    expect(r).toMatchObject({ ok: false, reason: "wrong-type", detail: expect.stringContaining("[1]") });
    const many = JSON.stringify(Array.from({ length: 1001 }, () => ({ sensor: "a", temperature: 1 })));
    expect(reason(createParser({ maxBytes: 1e6 }).parse(many))).toBe("too-large");
    expect(reason(p.parse("[]"))).toBe("empty");
    expect(reason(p.parse("[1,2]"))).toBe("bad-format");
  });

  it("keeps the primary key of a relayed edgespool record", () => {
    const rec = {
      id: "cAAAAAAAAAAAAAAAAAAAAAA",
      sensor: "k/t1",
      ts: "2026-11-22T01:20:00.123Z",
      temperature: 23.4,
      source: "local",
      agent: "pi",
      seq: 12,
      rx: "2026-11-22T01:20:00.130Z",
      attrs: { bat: 3 },
    };
    expect(readings(p.parse(JSON.stringify(rec)))).toEqual([
      {
        id: rec.id,
        sensor: "k/t1",
        temperature: 23.4,
        deviceTs: Date.parse(rec.ts),
        deviceSeq: 12,
        attrs: { source: "local", agent: "pi", rx: rec.rx, bat: 3 },
      },
    ]);
  });

  it("refuses hostile input with a reason", () => {
    expect(reason(p.parse("[".repeat(5000) + "]".repeat(5000)))).toBe("bad-format");
    expect(reason(p.parse('{"sensor":"a","temperature":NaN}'))).toBe("invalid-json");
    expect(reason(p.parse('{"sensor":"a","temperature":1e400}'))).toBe("not-finite");
    expect(reason(p.parse(new Uint8Array([0x7b, 0xc0, 0xaf, 0x7d])))).toBe("invalid-utf8");
    expect(reason(p.parse("x".repeat(70_000)))).toBe("too-large");
    expect(reason(p.parse(" \n\t"))).toBe("empty");
    expect(reason(p.parse("null"))).toBe("bad-format");
    expect(reason(p.parse('{"sensor":"a\\u0000b","temperature":1}'))).toBe("bad-format");
    const polluted = p.parse(
      '{"sensor":"a","temperature":1,"__proto__":{"x":1},"m":{"__proto__":{"y":2},"constructor":{"prototype":{"z":3}}}}',
    );
    expect(readings(polluted)[0]!.attrs).toEqual({ m: {} });
    expect(({} as Record<string, unknown>).x).toBeUndefined();
    expect(Object.getPrototypeOf(readings(polluted)[0]!.attrs!.m)).toBe(Object.prototype);
  });

  it("bounds attrs", () => {
    const o: Record<string, unknown> = { sensor: "a", temperature: 1 };
    for (let i = 0; i < 100; i++) o[`k${i}`] = "v".repeat(100);
    const attrs = readings(p.parse(JSON.stringify(o)))[0]!.attrs!;
    expect(JSON.stringify(attrs).length).toBeLessThanOrEqual(4200);
    expect(attrs._truncated).toBeGreaterThan(60);
  });
});

describe("units and range", () => {
  it("converts °F and milli-°C", () => {
    expect(
      readings(createParser({ unit: "F" }).parse('{"sensor":"a","temperature":73.4}'))[0]!.temperature,
    ).toBe(23);
    expect(
      readings(createParser({ unit: "F" }).parse('{"sensor":"a","temperature":-40}'))[0]!.temperature,
    ).toBe(-40);
    expect(
      readings(createParser({ unit: "mC" }).parse('{"sensor":"a","temperature":23125}'))[0]!.temperature,
    ).toBe(23.125);
  });
  it("rejects outside the configured range, after conversion", () => {
    const p = createParser({ range: { min: 0, max: 50 } });
    expect(reason(p.parse('{"sensor":"a","temperature":50}'))).toBe("ok");
    expect(reason(p.parse('{"sensor":"a","temperature":50.01}'))).toBe("out-of-range");
    expect(reason(createParser({ unit: "F" }).parse('{"sensor":"a","temperature":300}'))).toBe(
      "out-of-range",
    );
    expect(reason(createParser({}).parse('{"sensor":"a","temperature":1,"humidity":101}'))).toBe(
      "out-of-range",
    );
  });
});

describe("csv, kv, number", () => {
  it("csv with a header row remembers it across lines and skips its repeats", () => {
    const p = createParser({ format: "csv", header: true });
    expect(readings(p.parse("Sensor,Temp,RH,ts"))).toEqual([]);
    expect(readings(p.parse("a,21.5,40,1763774400"))).toEqual([
      { sensor: "a", temperature: 21.5, humidity: 40, deviceTs: 1763774400000 },
    ]);
    expect(readings(p.parse("Sensor,Temp,RH,ts"))).toEqual([]);
    expect(readings(p.parse('"b, the second",22,,'))).toEqual([{ sensor: "b, the second", temperature: 22 }]);
    expect(reason(p.parse('"unterminated,1'))).toBe("bad-format");
  });

  it("csv with a header refuses data until the header row comes", () => {
    const p = createParser({ format: "csv", header: true });
    expect(reason(p.parse("a,21.5,40"))).toBe("bad-format");
    expect(readings(p.parse("sensor,temperature,humidity"))).toEqual([]);
    expect(readings(p.parse("a,21.5,40"))).toEqual([{ sensor: "a", temperature: 21.5, humidity: 40 }]);
    p.reset?.();
    expect(reason(p.parse("a,21.5,40"))).toBe("bad-format");
  });

  it("csv default columns follow the preset", () => {
    expect(readings(createParser({ format: "csv", preset: "kinesis-tutorial" }).parse("A,23"))).toEqual([
      { sensor: "A", temperature: 23 },
    ]);
  });

  it("csv with configured columns, or the default columns", () => {
    const p = createParser({ format: "csv", columns: ["temperature", "sensor"], delimiter: ";" });
    expect(readings(p.parse("21;x;extra"))).toEqual([
      { sensor: "x", temperature: 21, attrs: { col3: "extra" } },
    ]);
    expect(readings(createParser({ format: "csv" }).parse("t1,20.5,33"))).toEqual([
      { sensor: "t1", temperature: 20.5, humidity: 33 },
    ]);
    expect(readings(createParser({ format: "csv", sensor: "pi" }).parse("20.5\r\n21"))).toEqual([
      { sensor: "pi", temperature: 20.5 },
      { sensor: "pi", temperature: 21 },
    ]);
  });

  it("field maps name CSV columns and kv keys, dots included", () => {
    const p = createParser({ format: "kv", fields: { temperature: "temp.c", sensor: "Node" } });
    expect(readings(p.parse("node=n1 temp.c=19.5"))).toEqual([{ sensor: "n1", temperature: 19.5 }]);
  });

  it("kv lines with short and long keys", () => {
    const p = createParser({ format: "kv", sensor: "desk" });
    expect(readings(p.parse("T=23.4 H=41"))).toEqual([{ sensor: "desk", temperature: 23.4, humidity: 41 }]);
    expect(readings(p.parse("temp:23.4, hum:41; bat=3"))).toEqual([
      { sensor: "desk", temperature: 23.4, humidity: 41, attrs: { bat: "3" } },
    ]);
    expect(reason(p.parse("hello world"))).toBe("bad-format");
    expect(reason(p.parse("H=41"))).toBe("missing-field");
  });

  it("bare numbers need a sensor from config or topic", () => {
    expect(readings(createParser({ format: "number", sensor: "probe" }).parse("21.0\n"))).toEqual([
      { sensor: "probe", temperature: 21 },
    ]);
    expect(readings(createParser({ format: "number" }).parse("21", { topic: "home/t" }))).toEqual([
      { sensor: "home/t", temperature: 21 },
    ]);
    expect(reason(createParser({ format: "number" }).parse("21"))).toBe("missing-field");
    expect(reason(createParser({ format: "number", sensor: "p" }).parse("abc"))).toBe("wrong-type");
  });
});

describe("sensor ids from templates", () => {
  const tpl = compileTopicTemplate("sensors/{room}/{sensor}/temperature");
  it("joins topic variables by default and renders a configured template", () => {
    const vars = tpl.match("sensors/kitchen/t1/temperature");
    expect(vars).toEqual({ room: "kitchen", sensor: "t1" });
    expect(readings(createParser({}).parse("21", { topic: "x", vars }))[0]!.sensor).toBe("kitchen/t1");
    const p = createParser({ sensor: "{room}-{Spot}", preset: "kinesis-tutorial" });
    expect(readings(p.parse('{"Spot":"A","Temperature":20}', { vars }))[0]!.sensor).toBe("kitchen-A");
    expect(reason(createParser({ sensor: "{nope}" }).parse('{"temperature":1}', { vars }))).toBe(
      "missing-field",
    );
  });
  it("rejects bad templates at creation", () => {
    expect(() => createParser({ sensor: "{unclosed" })).toThrow();
    expect(() => compileTopicTemplate("a/#/b")).toThrow();
    expect(() => compileTopicTemplate("a/{__proto__}")).toThrow();
  });
});
