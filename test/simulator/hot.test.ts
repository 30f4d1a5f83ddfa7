import { describe, expect, it } from "vitest";
import { createFleet, type TruthReading } from "../../simulator/fleet.js";
import { HOT_ROOMS } from "../../simulator/hot.js";

/** `--hot`: places that are hot because of their physics, for the tutorial's `temperature >= 35`. */

const START = Date.parse("2026-01-15T00:00:00Z");
const DAY = 86_400_000;

function day(hot: boolean): TruthReading[] {
  const fleet = createFleet({ seed: 3, start: START, hot, intervalMs: 60_000 });
  return fleet.advance(START + DAY).flatMap((e) => (e.kind === "message" ? [e.truth] : []));
}

const isHot = (r: TruthReading) => (HOT_ROOMS as readonly string[]).includes(r.room);

describe("simulator --hot", () => {
  const readings = day(true);

  it("gives the 35 °C filter real work: a fair share at or above, and many just below", () => {
    const above = readings.filter((r) => r.temperature >= 35);
    const justBelow = readings.filter((r) => r.temperature >= 32 && r.temperature < 35);
    const share = above.length / readings.length;
    expect(share).toBeGreaterThan(0.04);
    expect(share).toBeLessThan(0.5);
    expect(justBelow.length).toBeGreaterThan(above.length / 2);
    // Every hot place crosses the threshold during the day, both ways.
    for (const room of HOT_ROOMS) {
      const mine = readings.filter((r) => r.room === room);
      expect(
        mine.some((r) => r.temperature >= 35),
        room,
      ).toBe(true);
      expect(
        mine.some((r) => r.temperature < 35),
        room,
      ).toBe(true);
    }
    // The house itself never gets there.
    expect(above.every(isHot)).toBe(true);
  });

  it("follows the physics: the sauna is hot only during and after its sessions, the fan holds the cupboard", () => {
    const sauna = readings.filter((r) => r.room === "sauna");
    const at = (h: number) => sauna.find((r) => r.t >= START + h * 3_600_000)!.actual;
    expect(at(5)).toBeLessThan(30); // before the 06:30 session, long after the last one
    expect(at(8)).toBeGreaterThan(70); // end of the morning session
    expect(at(10)).toBeLessThan(at(8.5)); // cooling
    const cupboard = readings.filter((r) => r.room === "server-cupboard").map((r) => r.actual);
    expect(Math.min(...cupboard.slice(60))).toBeGreaterThan(32);
    expect(Math.max(...cupboard)).toBeLessThan(38);
  });

  it("leaves every other room exactly as without --hot", () => {
    const plain = day(false);
    const house = readings.filter((r) => !isHot(r));
    expect(house).toEqual(plain);
  });
});
