import { afterEach, describe, expect, it } from "vitest";
import { createFleet, type Fleet, type FleetEvent } from "../../simulator/fleet.js";
import { createMqttOutput, type MqttOutputOptions } from "../../simulator/outputs/mqtt.js";
import { runFleet } from "../../simulator/run.js";
import { startAedes, subscribe, waitFor } from "./broker.js";

const START = Date.parse("2026-01-10T12:00:00Z");
const stops: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function setup() {
  const broker = await startAedes();
  stops.push(broker.close);
  const sub = await subscribe(broker.url, "sensors/#");
  stops.push(() => sub.client.endAsync(true));
  return { broker, sub };
}

/** QoS 1, a connection per device on topic sensors/{device}, reconnecting every 50 ms. */
const perDevice = (url: string, fleet: Fleet, more: Partial<MqttOutputOptions>) =>
  createMqttOutput({
    url,
    topic: "sensors/{device}",
    qos: 1,
    clients: "device",
    devices: fleet.devices,
    reconnectPeriodMs: 50,
    ...more,
  });

const key = (topic: string, payload: Buffer | string | Uint8Array) =>
  `${topic} ${Buffer.from(payload).toString("hex")}`;

describe("mqtt output", () => {
  for (const clients of ["device", 3] as const) {
    it(`delivers every message to a real broker (clients: ${clients})`, async () => {
      const { broker, sub } = await setup();
      const fleet = createFleet({
        seed: 3,
        start: START,
        rooms: 6,
        sensorsPerRoom: 2,
        faults: { duplicate: 0.05 },
      });
      const out = createMqttOutput({
        url: broker.url,
        topic: "sensors/{room}/{sensor}/temperature",
        qos: 1,
        clients,
        devices: fleet.devices,
        clientIdPrefix: "t",
      });
      const sent: string[] = [];
      const tap = (e: FleetEvent) => {
        if (e.kind === "message")
          sent.push(key(`sensors/${e.device.room.spec.name}/${e.device.sensor}/temperature`, e.payload));
      };
      await out.open();
      const res = await runFleet(fleet, out, { speed: Number.POSITIVE_INFINITY, count: 600, onEvent: tap });
      await out.close();
      expect(res.readings).toBe(600);
      expect(sent.length).toBeGreaterThan(600);
      await waitFor(() => sub.got.length >= sent.length);
      expect(sub.got.map((m) => key(m.topic, m.payload)).sort()).toEqual([...sent].sort());
      expect(out.stats()).toEqual({ sent: sent.length, errors: 0, retries: 0 });
    });
  }

  it("survives reconnect storms at QoS 1: every message arrives at least once", async () => {
    const { broker, sub } = await setup();
    let connects = 0;
    broker.broker.on("client", () => connects++);
    const fleet = createFleet({
      seed: 8,
      start: START,
      rooms: 4,
      intervalMs: 1000,
      faults: { "reconnect-storm": 400 },
    });
    const out = perDevice(broker.url, fleet, { clientIdPrefix: "s" });
    const sent = new Set<string>();
    await out.open();
    // Paced at 100x so storms fall between publishes, as in a real fleet.
    const res = await runFleet(fleet, out, {
      speed: 100,
      durationMs: 300_000,
      tickMs: 10,
      onEvent: (e) => e.kind === "message" && sent.add(key(`sensors/${e.device.id}`, e.payload)),
    });
    await out.close();
    expect(res.storms).toBeGreaterThan(10);
    expect(connects).toBeGreaterThan(4 * 5);
    await waitFor(() => new Set(sub.got.map((m) => key(m.topic, m.payload))).size >= sent.size).catch(
      () => undefined,
    );
    const got = new Set(sub.got.map((m) => key(m.topic, m.payload)));
    expect([...sent].filter((k) => !got.has(k))).toEqual([]);
  });

  it("close() gives up on publishes a broker never acknowledges instead of hanging", async () => {
    // Holds every PUBACK, as an agent whose spool never commits would.
    const broker = await startAedes({ authorizePublish: () => undefined });
    stops.push(broker.close);
    const fleet = createFleet({ seed: 5, start: START, rooms: 1, sensorsPerRoom: 2 });
    const out = perDevice(broker.url, fleet, { clientIdPrefix: "h", stallMs: 300 });
    await out.open();
    await runFleet(fleet, out, { speed: Number.POSITIVE_INFINITY, count: 20 });
    // After a reconnect mqtt.js replays its unacknowledged publishes; end(false) would wait for them forever.
    out.storm();
    await out.close();
    expect(out.stats().sent).toBe(20);
  });
});
