import { DeviceFaults, type FaultRates } from "./faults.js";
import { Room, type RoomKind, type RoomSpec } from "./physics.js";
import { hashSeed, Random } from "./prng.js";

/**
 * Builds the fleet's rooms and devices from a seed. A small fleet gets house-like names
 * (kitchen, living, bedroom-1 …); a large one `room-00042`. Rooms sit in floors of six along
 * a corridor: neighbours are left, right, above and below.
 */

const NAMED: readonly [string, RoomKind][] = [
  ["kitchen", "kitchen"],
  ["living", "living"],
  ["bedroom-1", "bedroom"],
  ["bath", "bath"],
  ["office", "office"],
  ["hall", "hall"],
  ["bedroom-2", "bedroom"],
  ["dining", "living"],
  ["study", "office"],
  ["nursery", "bedroom"],
  ["guest", "bedroom"],
  ["attic", "hall"],
];
const KINDS: readonly RoomKind[] = ["living", "kitchen", "bedroom", "bath", "office", "hall"];
const PER_FLOOR = 6;

export function roomNames(n: number): [string, RoomKind][] {
  if (n <= NAMED.length) return NAMED.slice(0, n);
  const width = Math.max(5, String(n).length);
  return Array.from({ length: n }, (_, i) => [`room-${String(i + 1).padStart(width, "0")}`, KINDS[i % 6]!]);
}

function roomSpec(name: string, kind: RoomKind, rng: Random): RoomSpec {
  const area = kind === "hall" || kind === "bath" ? rng.uniform(6, 12) : rng.uniform(12, 30);
  const unheated = kind === "hall" && rng.chance(0.5);
  return {
    name,
    kind,
    capacity: area * rng.uniform(50_000, 70_000),
    lossOutside: area * rng.uniform(1.2, 2.2),
    lossWindow: rng.uniform(120, 200),
    lossNeighbour: rng.uniform(12, 25),
    heaterW: unheated ? 0 : area * rng.uniform(70, 110),
    setpointC: kind === "bedroom" ? rng.uniform(18, 20) : kind === "bath" ? 22 : rng.uniform(20, 22),
    nightSetbackC: kind === "bath" || kind === "bedroom" ? 1 : 3,
    hysteresisC: rng.uniform(0.2, 0.6),
    solarW: rng.chance(0.5) ? area * rng.uniform(10, 25) : 0,
    maxPeople:
      kind === "living" || kind === "kitchen" ? 4 : kind === "office" ? 2 : kind === "bedroom" ? 2 : 1,
    volumeM3: area * 2.5,
  };
}

export function createRooms(seed: number, count: number): Room[] {
  const rooms = roomNames(count).map(([name, kind]) => {
    const rng = new Random(hashSeed(seed, "room-spec", name));
    const spec = roomSpec(name, kind, rng);
    return new Room(spec, hashSeed(seed, "room", name), spec.setpointC + rng.normal(0, 0.8));
  });
  rooms.forEach((r, i) => {
    const around = [i - 1, i + 1, i - PER_FLOOR, i + PER_FLOOR].filter(
      (j) =>
        j >= 0 &&
        j < rooms.length &&
        (Math.abs(j - i) !== 1 || Math.floor(j / PER_FLOOR) === Math.floor(i / PER_FLOOR)),
    );
    r.neighbours = around.map((j) => rooms[j]!);
  });
  return rooms;
}

/** A thermometer: where it hangs, how its clock runs, and how it errs. */
export interface Device {
  index: number;
  /** Sensor id as the agent sees it: `room/sensor`. */
  id: string;
  room: Room;
  sensor: string;
  /** When in each interval it reports, ms after the interval start. */
  phaseMs: number;
  /** Device message counter; the next message gets `seq + 1`. */
  seq: number;
  clockOffsetMs: number;
  /** Clock rate error, e.g. 2e-5 = 20 ppm fast. */
  skew: number;
  /** Mounting position bias (near a window, above a radiator), °C. */
  biasC: number;
  driftCPerDay: number;
  noiseC: number;
  noise: Random;
  faults: DeviceFaults;
  stuckTemperature: number | undefined;
}

export function createDevices(
  seed: number,
  rooms: readonly Room[],
  perRoom: number,
  intervalMs: number,
  rates: Readonly<FaultRates>,
): Device[] {
  const devices: Device[] = [];
  for (const room of rooms) {
    for (let s = 1; s <= perRoom; s++) {
      const id = `${room.spec.name}/t${s}`;
      const rng = new Random(hashSeed(seed, "device", id));
      devices.push({
        index: devices.length,
        id,
        room,
        sensor: `t${s}`,
        phaseMs: rng.int(intervalMs),
        seq: rng.int(1000),
        clockOffsetMs: Math.round(rng.normal(0, 1500)),
        skew: rng.normal(0, 2e-5),
        biasC: rng.normal(0, 0.25),
        driftCPerDay: rng.normal(0, 0.03),
        noiseC: rng.uniform(0.03, 0.08),
        noise: new Random(hashSeed(seed, "noise", id)),
        faults: new DeviceFaults(hashSeed(seed, "faults", id), rates),
        stuckTemperature: undefined,
      });
    }
  }
  return devices;
}
