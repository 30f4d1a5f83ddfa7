import { Random } from "./prng.js";

/**
 * The thermal world the sensors measure: an outside temperature with a daily cycle and slow
 * weather, and rooms as single thermal masses that lose heat to outside and to their neighbours,
 * gain it from a thermostat-controlled heater, people and the sun, and lose a lot through an
 * open window. Explicit Euler with steps of at most `MAX_STEP_S`: the fastest time constant
 * (window open) is about an hour, so this is stable and smooth.
 */

export const MAX_STEP_S = 10;
const HOUR_MS = 3_600_000;

/** Saturation absolute humidity in g/m³ at `t` °C (Magnus formula). */
export function saturationHumidity(t: number): number {
  return (6.112 * Math.exp((17.67 * t) / (t + 243.5)) * 100 * 2.1674) / (273.15 + t);
}

export function hourOfDay(tMs: number, tzOffsetHours = 0): number {
  const h = (tMs / HOUR_MS + tzOffsetHours) % 24;
  return h < 0 ? h + 24 : h;
}

export interface OutsideOptions {
  /** Daily mean, °C. */
  meanC: number;
  /** Half the day–night swing, °C; warmest at 15:00. */
  amplitudeC: number;
  tzOffsetHours: number;
}

export class Outside {
  /** Weather anomaly (Ornstein–Uhlenbeck): drifts over days around 0. */
  private anomaly: number;
  private readonly rng: Random;

  constructor(
    seed: number,
    readonly opts: OutsideOptions,
  ) {
    this.rng = new Random(seed);
    this.anomaly = this.rng.normal(0, 1.5);
  }

  temperature(tMs: number): number {
    const h = hourOfDay(tMs, this.opts.tzOffsetHours);
    return this.opts.meanC + this.opts.amplitudeC * Math.cos((2 * Math.PI * (h - 15)) / 24) + this.anomaly;
  }

  /** 0 at night, 1 at solar noon. */
  sun(tMs: number): number {
    const h = hourOfDay(tMs, this.opts.tzOffsetHours);
    return h > 6 && h < 18 ? Math.sin((Math.PI * (h - 6)) / 12) : 0;
  }

  /** Outside air at 80 % relative humidity. */
  absHumidity(tMs: number): number {
    return 0.8 * saturationHumidity(this.temperature(tMs));
  }

  step(dtS: number): void {
    const tau = 2 * 86_400;
    const sd = 2;
    this.anomaly += (-this.anomaly / tau) * dtS + sd * Math.sqrt((2 * dtS) / tau) * this.rng.normal();
  }
}

/** The outside at one instant, computed once per step for all rooms. */
export interface OutsideNow {
  temperature: number;
  sun: number;
  absHumidity: number;
}

export function outsideNow(outside: Outside, tMs: number): OutsideNow {
  const temperature = outside.temperature(tMs);
  return { temperature, sun: outside.sun(tMs), absHumidity: 0.8 * saturationHumidity(temperature) };
}

export type RoomKind = "living" | "kitchen" | "bedroom" | "bath" | "office" | "hall";

/** Probability that someone is in a room of this kind at an hour of the day. */
function presence(kind: RoomKind, h: number): number {
  switch (kind) {
    case "bedroom":
      return h >= 22 || h < 7 ? 0.9 : 0.05;
    case "kitchen":
      return (h >= 7 && h < 8.5) || (h >= 12 && h < 13) || (h >= 18 && h < 20) ? 0.8 : 0.1;
    case "living":
      return h >= 18 && h < 23 ? 0.8 : h >= 8 && h < 18 ? 0.2 : 0.02;
    case "office":
      return h >= 9 && h < 17 ? 0.85 : 0.02;
    case "bath":
      return (h >= 6.5 && h < 8) || (h >= 21 && h < 22.5) ? 0.4 : 0.03;
    case "hall":
      return 0.05;
  }
}

export interface RoomSpec {
  name: string;
  kind: RoomKind;
  /** Thermal capacity of air, furniture and inner wall layers, J/K. */
  capacity: number;
  /** Conductance to outside with the window shut, W/K. */
  lossOutside: number;
  /** Extra conductance while a window is open, W/K. */
  lossWindow: number;
  /** Conductance to each neighbour, W/K. */
  lossNeighbour: number;
  /** 0 for an unheated room. */
  heaterW: number;
  setpointC: number;
  /** Setpoint reduction from 22:00 to 06:00. */
  nightSetbackC: number;
  hysteresisC: number;
  /** Solar gain at noon, W. */
  solarW: number;
  maxPeople: number;
  volumeM3: number;
  /** A hot place (`--hot`): its own controller instead of a plain thermostat (see hot.ts). */
  hot?: HotSpec;
}

/**
 * What makes a hot place hot. A sauna's heater runs sessions at fixed local hours with a high
 * setpoint; a server cupboard's equipment dissipates heat all the time and a thermostatic fan
 * pushes it outside; a heater stuck on ignores its thermostat.
 */
export type HotSpec =
  | { kind: "sauna"; sessionHours: number[]; sessionLengthH: number; setpointC: number }
  | { kind: "server-cupboard"; equipmentW: number; fanW_K: number; fanOnC: number; fanOffC: number }
  | { kind: "stuck-heater" };

export class Room {
  temperature: number;
  /** Absolute humidity, g/m³. */
  absHumidity: number;
  heaterOn = false;
  occupants = 0;
  windowOpen = false;
  neighbours: Room[] = [];
  private windowCloseAt = 0;
  private readonly rng: Random;

  constructor(
    readonly spec: RoomSpec,
    seed: number,
    initialC: number,
  ) {
    this.rng = new Random(seed);
    this.temperature = initialC;
    this.absHumidity = 0.45 * saturationHumidity(initialC);
  }

  setpoint(tMs: number, tz: number): number {
    const h = hourOfDay(tMs, tz);
    return h >= 22 || h < 6 ? this.spec.setpointC - this.spec.nightSetbackC : this.spec.setpointC;
  }

  relativeHumidity(): number {
    return Math.min(100, (100 * this.absHumidity) / saturationHumidity(this.temperature));
  }

  /** Decides heater, people and window for the step starting at `tMs`. */
  control(tMs: number, dtS: number, tz: number): void {
    const s = this.spec;
    if (s.hot) this.hotControl(s.hot, tMs, tz);
    else if (s.heaterW > 0) {
      const sp = this.setpoint(tMs, tz);
      if (this.temperature < sp - s.hysteresisC) this.heaterOn = true;
      else if (this.temperature > sp + s.hysteresisC) this.heaterOn = false;
    }
    // People come and go: reconsider about every 15 minutes.
    if (this.rng.chance(dtS / 900)) {
      const p = presence(s.kind, hourOfDay(tMs, tz));
      let n = 0;
      for (let i = 0; i < s.maxPeople; i++) if (this.rng.chance(p)) n++;
      this.occupants = n;
    }
    if (this.windowOpen && tMs >= this.windowCloseAt) this.windowOpen = false;
    // Occupied rooms get aired about once every 6 hours, for about 10 minutes.
    if (!this.windowOpen && this.occupants > 0 && this.rng.chance(dtS / (6 * 3600))) {
      this.windowOpen = true;
      this.windowCloseAt = tMs + this.rng.exponential(600) * 1000;
    }
  }

  /** The fan of a server cupboard, on between its thresholds. */
  fanOn = false;

  private hotControl(hot: HotSpec, tMs: number, tz: number): void {
    const s = this.spec;
    if (hot.kind === "stuck-heater") this.heaterOn = true;
    else if (hot.kind === "sauna") {
      const h = hourOfDay(tMs, tz);
      const session = hot.sessionHours.some((start) => (h - start + 24) % 24 < hot.sessionLengthH);
      if (!session || this.temperature > hot.setpointC + s.hysteresisC) this.heaterOn = false;
      else if (this.temperature < hot.setpointC - s.hysteresisC) this.heaterOn = true;
    } else {
      if (this.temperature > hot.fanOnC) this.fanOn = true;
      else if (this.temperature < hot.fanOffC) this.fanOn = false;
    }
  }

  /** Heat from equipment minus what a running fan exhausts to outside, W. */
  private hotFlow(tOut: number): number {
    const hot = this.spec.hot;
    if (hot?.kind !== "server-cupboard") return 0;
    return hot.equipmentW - (this.fanOn ? hot.fanW_K * (this.temperature - tOut) : 0);
  }

  /** Net heat flow into the room, W, from the state at the start of the step. */
  heatFlow(tMs: number, outside: Outside, now: OutsideNow = outsideNow(outside, tMs)): number {
    const s = this.spec;
    const tOut = now.temperature;
    let q = (s.lossOutside + (this.windowOpen ? s.lossWindow : 0)) * (tOut - this.temperature);
    for (const n of this.neighbours) q += s.lossNeighbour * (n.temperature - this.temperature);
    if (this.heaterOn) q += s.heaterW;
    q += this.occupants * 100 + now.sun * s.solarW + this.hotFlow(tOut);
    return q;
  }

  /** Air exchange pulls humidity toward outside; people breathe out about 50 g/h each. */
  humidityFlow(now: OutsideNow): number {
    const achPerS = (this.windowOpen ? 8 : 0.5) / 3600;
    return achPerS * (now.absHumidity - this.absHumidity) + (this.occupants * 50) / 3600 / this.spec.volumeM3;
  }
}

/** All rooms stepped together, so neighbours see each other's temperature at the same instant. */
export class Building {
  private readonly flows: Float64Array;
  private readonly wet: Float64Array;

  constructor(
    readonly rooms: Room[],
    readonly outside: Outside,
    readonly tzOffsetHours: number,
  ) {
    this.flows = new Float64Array(rooms.length);
    this.wet = new Float64Array(rooms.length);
  }

  /** Advances every room from `tMs` by `dtS` seconds (sub-stepped). */
  step(tMs: number, dtS: number): void {
    let t = tMs;
    let left = dtS;
    while (left > 1e-9) {
      const dt = Math.min(MAX_STEP_S, left);
      const rooms = this.rooms;
      const now = outsideNow(this.outside, t);
      for (let i = 0; i < rooms.length; i++) {
        const r = rooms[i]!;
        r.control(t, dt, this.tzOffsetHours);
        this.flows[i] = r.heatFlow(t, this.outside, now);
        this.wet[i] = r.humidityFlow(now);
      }
      for (let i = 0; i < rooms.length; i++) {
        const r = rooms[i]!;
        r.temperature += (this.flows[i]! * dt) / r.spec.capacity;
        r.absHumidity = Math.max(0.5, r.absHumidity + this.wet[i]! * dt);
      }
      this.outside.step(dt);
      t += dt * 1000;
      left -= dt;
    }
  }
}
