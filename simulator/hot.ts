import { Room, type RoomSpec } from "./physics.js";
import { hashSeed, Random } from "./prng.js";

/**
 * The hot places `--hot` adds to a fleet, so the Kinesis tutorial's `temperature >= 35` filter
 * has work: each is hot because of its physics, not a fixed number, and each also spends time
 * just below the threshold.
 *
 * - `sauna`: a small, well-insulated cabin with a 6 kW stove, heated to 80 °C in two sessions a
 *   day (06:30 and 18:00 local, two hours each); it cools back through the 30s over a few hours.
 * - `server-cupboard`: 500 W of equipment in a closet; a thermostatic exhaust fan switches on at
 *   36.5 °C and off at 33.5 °C, so it swings across 35 °C all day.
 * - `spare-room`: a heater whose thermostat failed and stays on: about 32 °C above outside, so
 *   it crosses 35 °C with the day–night swing.
 *
 * They stand apart from the house (no shared walls), so adding them changes no other room.
 */
export const HOT_ROOMS = ["sauna", "server-cupboard", "spare-room"] as const;

export function createHotRooms(seed: number): Room[] {
  const specs: RoomSpec[] = HOT_ROOMS.map((name) => {
    const rng = new Random(hashSeed(seed, "hot-spec", name));
    const base = {
      name,
      lossWindow: rng.uniform(60, 100),
      lossNeighbour: 0,
      nightSetbackC: 0,
      solarW: 0,
    };
    switch (name) {
      case "sauna":
        return {
          ...base,
          kind: "bath",
          // Air, wooden walls and the stove's stones.
          capacity: rng.uniform(380_000, 420_000),
          lossOutside: rng.uniform(28, 34),
          heaterW: 6000,
          setpointC: 80,
          hysteresisC: 2,
          maxPeople: 0,
          volumeM3: 8,
          hot: { kind: "sauna", sessionHours: [6.5, 18], sessionLengthH: 2, setpointC: 80 },
        };
      case "server-cupboard":
        return {
          ...base,
          kind: "hall",
          capacity: rng.uniform(170_000, 200_000),
          lossOutside: rng.uniform(2.5, 3.5),
          heaterW: 0,
          setpointC: 35,
          hysteresisC: 0,
          maxPeople: 0,
          volumeM3: 4,
          hot: { kind: "server-cupboard", equipmentW: 500, fanW_K: 20, fanOnC: 36.5, fanOffC: 33.5 },
        };
      case "spare-room":
        return {
          ...base,
          kind: "hall",
          capacity: rng.uniform(500_000, 600_000),
          lossOutside: rng.uniform(18, 22),
          heaterW: 700,
          setpointC: 18,
          hysteresisC: 0.5,
          maxPeople: 1,
          volumeM3: 25,
          hot: { kind: "stuck-heater" },
        };
    }
  });
  return specs.map((spec) => {
    const initial = spec.hot?.kind === "sauna" ? 22 : 34;
    return new Room(spec, hashSeed(seed, "room", spec.name), initial);
  });
}
