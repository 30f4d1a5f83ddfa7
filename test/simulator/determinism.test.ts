import { describe, expect, it } from "vitest";
import { createFleet, type FleetEvent, type FleetOptions } from "../../simulator/fleet.js";

const START = Date.parse("2026-03-01T06:00:00Z");
const FAULTS = "dropout=0.02,stuck=0.02,spike=0.02,duplicate=0.02,reorder=0.02,malformed=0.02,oversize=0.01";

function run(opts: Partial<FleetOptions>, readings = 3000): string[] {
  const fleet = createFleet({
    start: START,
    rooms: 8,
    sensorsPerRoom: 2,
    intervalMs: 15_000,
    humidity: true,
    ...opts,
  });
  const out: string[] = [];
  const show = (e: FleetEvent) =>
    e.kind === "message"
      ? typeof e.payload === "string"
        ? e.payload
        : Buffer.from(e.payload).toString("hex")
      : JSON.stringify(e.truth);
  for (const e of fleet.advance(Number.POSITIVE_INFINITY, readings)) out.push(show(e));
  for (const e of fleet.flush()) out.push(show(e));
  return out;
}

const faults = Object.fromEntries(
  FAULTS.split(",").map((p) => {
    const [k, v] = p.split("=");
    return [k!, Number(v)];
  }),
);

describe("determinism", () => {
  it("gives byte-identical output for the same seed and start, faults included", () => {
    for (const format of ["canonical", "tutorial", "csv", "kv"] as const) {
      const a = run({ seed: 42, format, faults });
      const b = run({ seed: 42, format, faults });
      expect(a.length).toBeGreaterThan(3000);
      expect(b).toEqual(a);
    }
  });

  it("differs for a different seed", () => {
    const a = run({ seed: 1, faults });
    const b = run({ seed: 2, faults });
    const same = a.filter((line, i) => b[i] === line).length;
    expect(same).toBeLessThan(a.length / 100);
  });

  it("keeps the physics and readings when faults are switched on", () => {
    const clean = createFleet({ seed: 9, start: START, rooms: 4 });
    const faulty = createFleet({
      seed: 9,
      start: START,
      rooms: 4,
      faults: { duplicate: 0.3, malformed: 0.1 },
    });
    clean.advance(START + 6 * 3_600_000);
    faulty.advance(START + 6 * 3_600_000);
    expect(faulty.rooms.map((r) => r.temperature)).toEqual(clean.rooms.map((r) => r.temperature));
  });
});
