import { MALFORMED_KINDS, type MalformedKind } from "./formats.js";
import { Random } from "./prng.js";

/**
 * Faults real fleets show, each at a rate. Per-message faults are fractions of readings;
 * dropouts and stuck values come in episodes (a Wi-Fi outage, a frozen sensor) whose start
 * probability is set so the long-run fraction of affected readings equals the rate.
 * Reconnect storms are fleet-wide events per simulated hour.
 */

export const FAULT_KINDS = [
  "dropout",
  "stuck",
  "spike",
  "duplicate",
  "reorder",
  "malformed",
  "oversize",
  "reconnect-storm",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];
export type FaultRates = Record<FaultKind, number>;

export const NO_FAULTS: Readonly<FaultRates> = Object.freeze({
  dropout: 0,
  stuck: 0,
  spike: 0,
  duplicate: 0,
  reorder: 0,
  malformed: 0,
  oversize: 0,
  "reconnect-storm": 0,
});

/** DS18B20 power-on value, DS18B20 disconnected value, or a short electrical glitch. */
export type SpikeKind = "ds18b20-85" | "ds18b20-disconnected" | "glitch";

/** Parses `dropout=0.01,spike=0.002,storm=2` (storm = reconnect-storm, per simulated hour). */
export function parseFaultSpec(spec: string): Partial<FaultRates> {
  const out: Partial<FaultRates> = {};
  for (const part of spec.split(",").map((p) => p.trim())) {
    if (part === "") continue;
    const m = /^([a-z-]+)\s*=\s*([0-9.eE+-]+)$/.exec(part);
    const name = m?.[1] === "storm" ? "reconnect-storm" : m?.[1];
    const kind = FAULT_KINDS.find((k) => k === name);
    const rate = Number(m?.[2]);
    if (!kind || !Number.isFinite(rate) || rate < 0)
      throw new Error(
        `bad fault "${part}": expected one of ${FAULT_KINDS.join(", ")} (or storm) = a rate >= 0`,
      );
    if (kind !== "reconnect-storm" && rate > 1) throw new Error(`bad fault "${part}": a fraction 0..1`);
    out[kind] = rate;
  }
  return out;
}

/** What happens to one reading. */
export interface FaultDecision {
  dropout: boolean;
  stuck: boolean;
  spike: SpikeKind | undefined;
  duplicate: boolean;
  /** Messages of the same device this one is held back behind; 0 = in order. */
  reorder: number;
  malformed: MalformedKind | undefined;
  oversize: boolean;
}

const NONE: FaultDecision = Object.freeze({
  dropout: false,
  stuck: false,
  spike: undefined,
  duplicate: false,
  reorder: 0,
  malformed: undefined,
  oversize: false,
});

const DROPOUT_MEAN = 4;
const STUCK_MEAN = 20;

/** Start probability so that an episode process of this mean length covers `rate` of the messages. */
function episodeStart(rate: number, meanLen: number): number {
  return rate >= 1 ? 1 : rate / (meanLen * (1 - rate));
}

/** One device's fault process; draws the same number of random values per reading, whatever fires. */
export class DeviceFaults {
  private readonly rng: Random;
  private dropoutLeft = 0;
  private stuckLeft = 0;
  private readonly pDropout: number;
  private readonly pStuck: number;
  /** For payload details (garbage bytes), separate so decisions stay aligned across formats. */
  readonly detail: Random;
  /** No per-reading fault configured: skip the draws (the fault stream is separate from physics). */
  private readonly none: boolean;

  constructor(
    seed: number,
    private readonly rates: Readonly<FaultRates>,
  ) {
    this.rng = new Random(seed);
    this.detail = new Random(seed ^ 0x9e3779b9);
    this.pDropout = episodeStart(rates.dropout, DROPOUT_MEAN);
    this.pStuck = episodeStart(rates.stuck, STUCK_MEAN);
    this.none = FAULT_KINDS.every((k) => k === "reconnect-storm" || rates[k] === 0);
  }

  decide(): FaultDecision {
    if (this.none) return NONE;
    const r = this.rng;
    const u = [
      r.next(),
      r.next(),
      r.next(),
      r.next(),
      r.next(),
      r.next(),
      r.next(),
      r.next(),
      r.next(),
      r.next(),
    ];
    let dropout = false;
    if (this.dropoutLeft > 0) {
      this.dropoutLeft--;
      dropout = true;
    } else if (u[0]! < this.pDropout) {
      dropout = true;
      this.dropoutLeft = Math.floor(-(DROPOUT_MEAN - 1) * Math.log(1 - u[1]!) + 0.5);
    }
    let stuck = false;
    if (this.stuckLeft > 0) {
      this.stuckLeft--;
      stuck = true;
    } else if (u[2]! < this.pStuck) {
      stuck = true;
      this.stuckLeft = Math.floor(-(STUCK_MEAN - 1) * Math.log(1 - u[9]!) + 0.5);
    }
    const spikeDraw = u[3]! < this.rates.spike ? u[3]! / this.rates.spike : -1;
    const spike: SpikeKind | undefined =
      spikeDraw < 0
        ? undefined
        : spikeDraw < 0.4
          ? "ds18b20-85"
          : spikeDraw < 0.7
            ? "ds18b20-disconnected"
            : "glitch";
    const malformed = u[6]! < this.rates.malformed;
    return {
      dropout,
      stuck,
      spike,
      duplicate: u[4]! < this.rates.duplicate,
      reorder: u[5]! < this.rates.reorder ? 1 + Math.floor((u[5]! / this.rates.reorder) * 3) : 0,
      malformed: malformed ? MALFORMED_KINDS[Math.floor(u[7]! * MALFORMED_KINDS.length)] : undefined,
      oversize: !malformed && u[8]! < this.rates.oversize,
    };
  }
}
