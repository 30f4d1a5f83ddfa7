import { type FaultKind, type FaultRates, NO_FAULTS, type SpikeKind } from "./faults.js";
import {
  encode,
  encodeMalformed,
  encodeOversize,
  type Format,
  type MalformedKind,
  type Measurement,
} from "./formats.js";
import { createHotRooms } from "./hot.js";
import { createDevices, createRooms, type Device } from "./layout.js";
import { Building, MAX_STEP_S, Outside, type Room } from "./physics.js";
import { hashSeed, Random } from "./prng.js";

/**
 * The fleet as a library: a deterministic function of its options from simulated time to the
 * messages devices send. It owns the simulated clock; a runner decides how fast it advances.
 */

export interface FleetOptions {
  seed: number;
  /** Simulated start time, epoch ms. The same seed and start give byte-identical output. */
  start: number;
  rooms: number;
  sensorsPerRoom: number;
  /** Reporting interval of every device, simulated ms. */
  intervalMs: number;
  format: Format;
  humidity: boolean;
  faults: Partial<FaultRates>;
  /** Size of oversized payloads. */
  oversizeBytes: number;
  outsideMeanC: number;
  outsideAmplitudeC: number;
  /** Local time = UTC + this, for the daily cycle and schedules. */
  tzOffsetHours: number;
  /** Add the hot places (sauna, server cupboard, a heater stuck on): see hot.ts. */
  hot: boolean;
}

export const DEFAULT_FLEET: Readonly<Omit<FleetOptions, "start">> = Object.freeze({
  seed: 1,
  rooms: 12,
  sensorsPerRoom: 1,
  intervalMs: 10_000,
  format: "canonical",
  humidity: false,
  faults: {},
  oversizeBytes: 96 * 1024,
  outsideMeanC: 6,
  outsideAmplitudeC: 5,
  tzOffsetHours: 0,
  hot: false,
});

/** One reading as generated, with what was done to it: a line of the ground-truth log. */
export interface TruthReading {
  type: "reading";
  /** Simulated send time, epoch ms (fleet clock, no device clock error). */
  t: number;
  /** Sensor id as the agent sees it (`room/sensor`). */
  sensor: string;
  room: string;
  /** Device message counter, as in the payload. */
  seq: number;
  /** Device timestamp, epoch ms, as in the payload (includes the device clock offset). */
  ts: number;
  /** Temperature in the payload (after stuck/spike faults); undefined when not parseable. */
  temperature: number;
  humidity?: number;
  /** The room's air temperature at send time, °C, unquantised. */
  actual: number;
  faults: FaultKind[];
  spike?: SpikeKind;
  malformed?: MalformedKind;
  /** Held back behind this many later messages of the same device. */
  reorder?: number;
  /** Times sent: 0 for a dropout, 2 for a duplicate. */
  copies: number;
  /** A correct agent stores it: sent, well-formed, within size, not a DS18B20 error code. */
  valid: boolean;
  bytes: number;
}

export interface TruthStorm {
  type: "reconnect-storm";
  t: number;
}
export type TruthEntry = TruthReading | TruthStorm;

export type FleetEvent =
  | { kind: "message"; device: Device; payload: string | Uint8Array; truth: TruthReading; copy: number }
  | { kind: "dropout"; device: Device; truth: TruthReading }
  | { kind: "storm"; truth: TruthStorm };

export interface Fleet {
  readonly options: Readonly<FleetOptions>;
  readonly rooms: readonly Room[];
  readonly devices: readonly Device[];
  readonly outside: Outside;
  /** Simulated time reached, epoch ms. */
  readonly now: number;
  /** Readings generated so far (including dropouts). */
  readonly generated: number;
  /** Everything that happens up to `untilMs`, at most `maxReadings` readings, in send order. */
  advance(untilMs: number, maxReadings?: number): FleetEvent[];
  /** Messages still held back for reordering, released in device order (call at the end of a run). */
  flush(): FleetEvent[];
}

type Held = { events: FleetEvent[]; left: number };

export function createFleet(opts: Partial<FleetOptions> = {}): Fleet {
  const o: FleetOptions = { ...DEFAULT_FLEET, start: Date.now(), ...opts };
  const rates: FaultRates = { ...NO_FAULTS, ...o.faults };
  const rooms = [...createRooms(o.seed, o.rooms), ...(o.hot ? createHotRooms(o.seed) : [])];
  const devices = createDevices(o.seed, rooms, o.sensorsPerRoom, o.intervalMs, rates);
  const outside = new Outside(hashSeed(o.seed, "outside"), {
    meanC: o.outsideMeanC,
    amplitudeC: o.outsideAmplitudeC,
    tzOffsetHours: o.tzOffsetHours,
  });
  const building = new Building(rooms, outside, o.tzOffsetHours);
  const stormRng = new Random(hashSeed(o.seed, "storms"));
  const order = [...devices].sort((a, b) => a.phaseMs - b.phaseMs || a.index - b.index);
  const held: Held[][] = devices.map(() => []);

  let physT = o.start;
  let period = 0;
  let slot = 0;
  let now = o.start;
  let generated = 0;

  function stepPhysics(out: FleetEvent[]): void {
    building.step(physT, MAX_STEP_S);
    physT += MAX_STEP_S * 1000;
    if (stormRng.chance((rates["reconnect-storm"] * MAX_STEP_S) / 3600))
      out.push({ kind: "storm", truth: { type: "reconnect-storm", t: physT } });
  }

  /** Generates one reading of device `d` at time `t`, appending what goes out now to `out`. */
  function read(d: Device, t: number, out: FleetEvent[]): void {
    const f = d.faults.decide();
    const room = d.room;
    const days = (t - o.start) / 86_400_000;
    let temperature = quantise(
      room.temperature + d.biasC + d.driftCPerDay * days + d.noise.normal(0, d.noiseC),
    );
    const humidity = o.humidity
      ? Math.round(Math.min(100, Math.max(0, room.relativeHumidity() + d.noise.normal(0, 1.5))) * 10) / 10
      : undefined;
    if (f.stuck) {
      d.stuckTemperature ??= temperature;
      temperature = d.stuckTemperature;
    } else d.stuckTemperature = undefined;
    if (f.spike === "ds18b20-85") temperature = 85;
    else if (f.spike === "ds18b20-disconnected") temperature = -127;
    else if (f.spike === "glitch")
      temperature = quantise(
        temperature + (d.faults.detail.chance(0.5) ? 1 : -1) * d.faults.detail.uniform(3, 15),
      );
    d.seq++;
    const m: Measurement = {
      sensor: d.id,
      ts: Math.round(t + d.clockOffsetMs + d.skew * (t - o.start)),
      seq: d.seq,
      temperature,
    };
    if (humidity !== undefined) m.humidity = humidity;
    const payload = f.malformed
      ? encodeMalformed(o.format, m, f.malformed, d.faults.detail)
      : f.oversize
        ? encodeOversize(o.format, m, o.oversizeBytes)
        : encode(o.format, m);
    const faults: FaultKind[] = [];
    if (f.dropout) faults.push("dropout");
    if (f.stuck) faults.push("stuck");
    if (f.spike) faults.push("spike");
    if (f.malformed) faults.push("malformed");
    if (f.oversize) faults.push("oversize");
    if (!f.dropout && f.duplicate) faults.push("duplicate");
    if (!f.dropout && f.reorder > 0) faults.push("reorder");
    const truth: TruthReading = {
      type: "reading",
      t,
      sensor: d.id,
      room: room.spec.name,
      seq: m.seq,
      ts: m.ts,
      temperature,
      actual: Math.round(room.temperature * 1e4) / 1e4,
      faults,
      copies: f.dropout ? 0 : f.duplicate ? 2 : 1,
      valid: !f.dropout && !f.malformed && !f.oversize && (f.spike === undefined || f.spike === "glitch"),
      // Encoded payloads are ASCII, so string length is byte length.
      bytes: payload.length,
    };
    if (humidity !== undefined) truth.humidity = humidity;
    if (f.spike) truth.spike = f.spike;
    if (f.malformed) truth.malformed = f.malformed;
    if (!f.dropout && f.reorder > 0) truth.reorder = f.reorder;
    if (f.dropout) {
      out.push({ kind: "dropout", device: d, truth });
      return;
    }
    const first: FleetEvent = { kind: "message", device: d, payload, truth, copy: 0 };
    const queue = held[d.index]!;
    if (queue.length === 0 && f.reorder === 0 && !f.duplicate) {
      out.push(first);
      return;
    }
    const mine: FleetEvent[] = [first];
    if (f.duplicate) mine.push({ kind: "message", device: d, payload, truth, copy: 1 });
    if (f.reorder > 0) queue.push({ events: mine, left: f.reorder });
    else out.push(...mine);
    // Held messages are released once enough later messages of this device went out.
    if (f.reorder === 0 && queue.length > 0) {
      for (const h of queue) h.left--;
      while (queue.length > 0 && queue[0]!.left <= 0) out.push(...queue.shift()!.events);
    }
  }

  return {
    options: o,
    rooms,
    devices,
    outside,
    get now() {
      return now;
    },
    get generated() {
      return generated;
    },
    advance(untilMs, maxReadings = Number.POSITIVE_INFINITY) {
      const out: FleetEvent[] = [];
      let n = 0;
      while (n < maxReadings) {
        const d = order[slot]!;
        const t = o.start + period * o.intervalMs + d.phaseMs;
        if (t > untilMs) break;
        while (physT < t) stepPhysics(out);
        read(d, t, out);
        n++;
        generated++;
        now = t;
        if (++slot === order.length) {
          slot = 0;
          period++;
        }
      }
      if (n < maxReadings) {
        while (physT + MAX_STEP_S * 1000 <= untilMs) stepPhysics(out);
        now = Math.max(now, untilMs);
      }
      return out;
    },
    flush() {
      const out: FleetEvent[] = [];
      for (const queue of held) for (const h of queue.splice(0)) out.push(...h.events);
      return out;
    },
  };
}

/** DS18B20 resolution at 12 bits. */
export function quantise(c: number): number {
  return Math.round(c * 16) / 16;
}
