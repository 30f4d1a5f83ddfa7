import { describe, expect, it } from "vitest";
import { createParser, type ParserOptions } from "../../agent/parse/index.js";
import { createFleet } from "../../simulator/fleet.js";
import { CSV_COLUMNS, type Format } from "../../simulator/formats.js";

/** The payload formats are the simulator's only contract with the agent: its parsers must read them. */

const PARSER: Record<Format, Partial<ParserOptions>> = {
  canonical: { format: "json" },
  tutorial: { format: "json", preset: "kinesis-tutorial" },
  csv: { format: "csv", columns: [...CSV_COLUMNS] },
  kv: { format: "kv" },
};

describe("formats against the agent's parser", () => {
  for (const format of ["canonical", "tutorial", "csv", "kv"] as const) {
    it(`reads ${format}: valid readings as sent, malformed and DS18B20 −127 rejected`, () => {
      const parser = createParser(PARSER[format]);
      const fleet = createFleet({
        seed: 13,
        start: Date.parse("2026-05-01T00:00:00Z"),
        rooms: 10,
        humidity: true,
        format,
        faults: { malformed: 0.1, spike: 0.05, duplicate: 0.05 },
      });
      const wrong: string[] = [];
      let rejected = 0;
      for (const e of fleet.advance(Number.POSITIVE_INFINITY, 3000)) {
        if (e.kind !== "message") continue;
        const t = e.truth;
        const res = parser.parse(e.payload);
        const shouldFail = t.malformed !== undefined || t.spike === "ds18b20-disconnected";
        if (!res.ok) {
          rejected++;
          if (!shouldFail) wrong.push(`rejected ${res.reason}: ${String(e.payload)}`);
          continue;
        }
        if (shouldFail) wrong.push(`accepted: ${Buffer.from(e.payload).toString("latin1")}`);
        const r = res.readings[0]!;
        const got = [r.sensor, r.temperature, r.deviceTs, r.deviceSeq, r.humidity];
        const want = [t.sensor, t.temperature, t.ts, format === "tutorial" ? undefined : t.seq, t.humidity];
        if (JSON.stringify(got) !== JSON.stringify(want))
          wrong.push(`${JSON.stringify(got)} != ${JSON.stringify(want)}`);
      }
      expect(wrong.slice(0, 5)).toEqual([]);
      expect(rejected).toBeGreaterThan(200);
    });
  }
});
