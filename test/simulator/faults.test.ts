import { describe, expect, it } from "vitest";
import { FAULT_KINDS, type FaultKind, parseFaultSpec } from "../../simulator/faults.js";
import { createFleet, type FleetEvent, type TruthReading } from "../../simulator/fleet.js";

const START = Date.parse("2026-02-01T00:00:00Z");
const N = 60_000;

function generate(kind: FaultKind, rate: number, format: "canonical" | "csv" = "canonical") {
  const fleet = createFleet({
    seed: 11,
    start: START,
    rooms: 100,
    intervalMs: 30_000,
    format,
    faults: { [kind]: rate },
  });
  const events: FleetEvent[] = [...fleet.advance(Number.POSITIVE_INFINITY, N), ...fleet.flush()];
  const truths = new Map<string, TruthReading>();
  for (const e of events) if (e.kind !== "storm") truths.set(`${e.truth.sensor}#${e.truth.seq}`, e.truth);
  const labelled = [...truths.values()].filter((t) => t.faults.includes(kind));
  return { fleet, events, truths: [...truths.values()], labelled };
}

const payloadText = (e: FleetEvent) => (e.kind === "message" ? Buffer.from(e.payload).toString("utf8") : "");

describe("faults", () => {
  it("parses a fault spec and refuses nonsense", () => {
    expect(parseFaultSpec("dropout=0.01, storm=2,spike=1e-3")).toEqual({
      dropout: 0.01,
      "reconnect-storm": 2,
      spike: 0.001,
    });
    expect(() => parseFaultSpec("gremlins=0.1")).toThrow(/gremlins/);
    expect(() => parseFaultSpec("dropout=2")).toThrow(/fraction/);
  });

  for (const kind of FAULT_KINDS.filter((k) => k !== "reconnect-storm")) {
    it(`applies ${kind} at its configured rate and labels it in ground truth`, () => {
      const rate = 0.05;
      const { events, truths, labelled } = generate(kind, rate);
      expect(truths.length).toBe(N);
      const share = labelled.length / N;
      expect(share).toBeGreaterThan(rate * 0.75);
      expect(share).toBeLessThan(rate * 1.25);
      // Nothing else is labelled.
      expect(truths.filter((t) => t.faults.some((f) => f !== kind))).toEqual([]);
      const messages = events.filter((e) => e.kind === "message");
      switch (kind) {
        case "dropout":
          expect(labelled.filter((t) => t.copies !== 0)).toEqual([]);
          expect(messages.length).toBe(N - labelled.length);
          break;
        case "duplicate": {
          expect(messages.length).toBe(N + labelled.length);
          const copies = messages.flatMap((e, i) => (e.copy === 1 ? [[e, messages[i - 1]!] as const] : []));
          expect(copies.length).toBe(labelled.length);
          expect(copies.filter(([a, b]) => payloadText(a) !== payloadText(b))).toEqual([]);
          break;
        }
        case "reorder": {
          // Per device, the labelled messages arrive after a later one of the same device.
          const last = new Map<string, number>();
          let late = 0;
          for (const e of messages) {
            const prev = last.get(e.truth.sensor) ?? 0;
            if (e.truth.seq < prev) late++;
            last.set(e.truth.sensor, Math.max(prev, e.truth.seq));
          }
          expect(late).toBeGreaterThan(labelled.length * 0.9);
          expect(late).toBeLessThanOrEqual(labelled.length);
          break;
        }
        case "malformed":
          {
            const wrong = messages.filter((e) => {
              const bad = e.truth.faults.includes("malformed");
              let parsed: { temperature?: unknown } | undefined;
              try {
                parsed = JSON.parse(payloadText(e)) as { temperature?: unknown };
              } catch {}
              return e.truth.valid === bad || (typeof parsed?.temperature === "number") === bad;
            });
            expect(wrong).toEqual([]);
          }
          break;
        case "oversize":
          expect(labelled.filter((t) => t.bytes <= 64 * 1024 || t.valid)).toEqual([]);
          break;
        case "spike":
          for (const t of labelled) {
            if (t.spike === "ds18b20-85") expect(t.temperature).toBe(85);
            else if (t.spike === "ds18b20-disconnected") expect(t.temperature).toBe(-127);
            else expect(Math.abs(t.temperature - t.actual)).toBeGreaterThan(2);
            expect(t.valid).toBe(t.spike === "glitch");
          }
          expect(new Set(labelled.map((t) => t.spike)).size).toBe(3);
          break;
        case "stuck": {
          const bySensor = new Map<string, TruthReading[]>();
          for (const t of truths) bySensor.set(t.sensor, [...(bySensor.get(t.sensor) ?? []), t]);
          let repeats = 0;
          for (const list of bySensor.values())
            for (let i = 1; i < list.length; i++)
              if (list[i]!.faults.includes("stuck") && list[i - 1]!.faults.includes("stuck"))
                if (list[i]!.temperature === list[i - 1]!.temperature) repeats++;
                else expect.fail("a stuck sensor changed its value");
          expect(repeats).toBeGreaterThan(labelled.length * 0.8);
          break;
        }
      }
    });
  }

  it("keeps CSV malformed lines unreadable as a full row", () => {
    const { events } = generate("malformed", 0.2, "csv");
    const wrong = events.filter((e) => {
      if (e.kind !== "message") return false;
      const cols = payloadText(e).split(",");
      const ok = cols.length >= 4 && Number.isFinite(Number(cols[3])) && cols[3] !== "";
      return ok === e.truth.faults.includes("malformed");
    });
    expect(wrong).toEqual([]);
  });

  it("raises reconnect storms at their rate per simulated hour", () => {
    const fleet = createFleet({ seed: 4, start: START, rooms: 2, faults: { "reconnect-storm": 6 } });
    const storms = fleet.advance(START + 20 * 3_600_000).filter((e) => e.kind === "storm");
    // Poisson with mean 120: 4 standard deviations either side.
    expect(storms.length).toBeGreaterThan(76);
    expect(storms.length).toBeLessThan(164);
    for (const s of storms) expect(s.truth.type).toBe("reconnect-storm");
  });
});
