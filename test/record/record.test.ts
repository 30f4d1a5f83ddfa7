import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { aggregateId, contentId, randomId, readingId } from "../../agent/record/ids.js";
import { type CanonicalRecord, decodeRecord, encodeRecord } from "../../agent/record/record.js";

const ID = /^[cra][A-Za-z0-9_-]{22}$/;

const reading = fc.record(
  {
    sensor: fc.string({ minLength: 1, maxLength: 40 }),
    temperature: fc.double({ min: -60, max: 125, noNaN: true }),
    humidity: fc.option(fc.double({ min: 0, max: 100, noNaN: true }), { nil: undefined }),
    deviceTs: fc.option(fc.integer({ min: 0, max: 2 ** 47 }), { nil: undefined }),
    deviceSeq: fc.option(fc.nat(), { nil: undefined }),
  },
  { requiredKeys: ["sensor", "temperature"] },
);

describe("ids", () => {
  it("content ids are stable for the same message and differ when any identifying field differs", () => {
    fc.assert(
      fc.property(reading, (r) => {
        const id = contentId(r);
        if (r.deviceTs === undefined && r.deviceSeq === undefined) return id === undefined;
        expect(id).toMatch(ID);
        expect(contentId({ ...r, attrs: { extra: 1 } })).toBe(id);
        expect(contentId({ ...r, temperature: r.temperature + 0.5 })).not.toBe(id);
        expect(contentId({ ...r, sensor: `${r.sensor}x` })).not.toBe(id);
        if (r.deviceSeq !== undefined) expect(contentId({ ...r, deviceSeq: r.deviceSeq + 1 })).not.toBe(id);
        return true;
      }),
    );
  });

  it("ids of later times sort after earlier ones, so the spool index grows at its end", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 47 }), fc.integer({ min: 1, max: 2 ** 40 }), (t, dt) => {
        const a = contentId({ sensor: "s", temperature: 1, deviceTs: t })!;
        const b = contentId({ sensor: "s", temperature: 1, deviceTs: t + dt })!;
        expect(a < b).toBe(true);
        expect(randomId(t) < randomId(t + dt)).toBe(true);
      }),
    );
  });

  it("random ids are unique and well formed; an explicit id wins", () => {
    const ids = new Set(Array.from({ length: 50_000 }, () => randomId()));
    expect(ids.size).toBe(50_000);
    for (const id of [...ids].slice(0, 100)) expect(id).toMatch(ID);
    expect(readingId({ sensor: "s", temperature: 1, id: "a123" })).toBe("a123");
    expect(readingId({ sensor: "s", temperature: 1 }, 5)).toMatch(/^r000000000005[A-Za-z0-9_-]{10}$/);
  });

  it("aggregate ids depend on agent, sensor, window start and length only", () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.string(),
        fc.integer({ min: 0, max: 2 ** 46 }),
        fc.integer({ min: 1, max: 86_400_000 }),
        (ag, s, start, len) => {
          const id = aggregateId(ag, s, start, len);
          expect(id).toMatch(ID);
          expect(aggregateId(ag, s, start, len)).toBe(id);
          expect(aggregateId(ag, s, start, len + 1)).not.toBe(id);
          expect(aggregateId(`${ag}x`, s, start, len)).not.toBe(id);
        },
      ),
    );
  });
});

describe("encodeRecord", () => {
  const rec = fc.record(
    {
      id: fc.string(),
      sensor: fc.string(),
      ts: fc.string(),
      temperature: fc.double({ noNaN: true, noDefaultInfinity: true }),
      humidity: fc.option(fc.double({ noNaN: true, noDefaultInfinity: true }), { nil: undefined }),
      source: fc.string(),
      agent: fc.string(),
      seq: fc.nat(),
      rx: fc.string(),
      dseq: fc.option(fc.nat(), { nil: undefined }),
      attrs: fc.option(fc.dictionary(fc.string(), fc.jsonValue()), { nil: undefined }),
    },
    { requiredKeys: ["id", "sensor", "ts", "temperature", "source", "agent", "seq", "rx"] },
  );

  it("is byte-identical to JSON.stringify of the record in its field order, and decodes back", () => {
    fc.assert(
      fc.property(rec, (r) => {
        const o: Record<string, unknown> = {
          id: r.id,
          sensor: r.sensor,
          ts: r.ts,
          temperature: r.temperature,
        };
        if (r.humidity !== undefined) o.humidity = r.humidity;
        Object.assign(o, { source: r.source, agent: r.agent, seq: r.seq, rx: r.rx });
        if (r.dseq !== undefined) o.dseq = r.dseq;
        if (r.attrs !== undefined && Object.keys(r.attrs).length > 0) o.attrs = r.attrs;
        const line = encodeRecord(r as CanonicalRecord);
        expect(line).toBe(JSON.stringify(o));
        expect(decodeRecord(line)).toEqual(JSON.parse(JSON.stringify(o)));
      }),
    );
  });
});
